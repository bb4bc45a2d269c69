//! A Lua scenario: `distlab::scenario::lua::load_str` under a small budget, then a bounded run.
//! The body is shared with the stable replay in `tests/robustness`.

#![no_main]

#[path = "../../tests/robustness/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    targets::lua(data);
});
