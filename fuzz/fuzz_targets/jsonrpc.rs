//! A JSON-RPC line: as a request to the calculator server, and as a response the client reads.
//! The body is shared with the stable replay in `tests/robustness`.

#![no_main]

#[path = "../../tests/robustness/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    targets::jsonrpc(data);
});
