//! A received frame: the binary and text headers, and the codec's decode into every algorithm's message.
//! The body is shared with the stable replay in `tests/robustness`.

#![no_main]

#[path = "../../tests/robustness/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    targets::frame(data);
});
