//! The wire codec: a message is its serde JSON (the same form the Lua hooks
//! see as `body`), compact, one line, UTF-8.
//!
//! Why JSON rather than a compact binary:
//!
//! - it costs no new dependency: every message type already derives
//!   `Serialize`/`Deserialize` (the Lua hooks and the JSON-lines trace use it);
//! - it is readable in `tcpdump -A` and in the file transport's inboxes;
//! - it can never contain a raw newline, so the file transport frames by lines;
//! - it is cheap next to the kernel round trip it rides on.
//!   `distlab bench --workload transport` times it on its workload's own
//!   messages (Ricart–Agrawala, 14.8 bytes on average): encode + decode
//!   50–100 ns per message, about 1 % of a lockstep UDP message (≈ 7 µs, of
//!   which the bare `sendto` + `recvfrom` is ≈ 6.3 µs). A binary codec could
//!   save at most that 1 %; its few bytes fewer per frame hardly matter to
//!   a syscall at this size. Figures and commands: `docs/performance.md`, "Transports
//!   (lockstep)".

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Appends the encoding of `msg` to `out`.
pub fn encode<M: Serialize>(msg: &M, out: &mut Vec<u8>) -> Result<(), String> {
    serde_json::to_writer(out, msg).map_err(|e| e.to_string())
}

/// Decodes one message; the error says what was wrong, for the summary.
pub fn decode<M: DeserializeOwned>(bytes: &[u8]) -> Result<M, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Msg {
        Election(u32),
        Note { text: String },
    }

    #[test]
    fn round_trip_and_no_newline() {
        let mut out = Vec::new();
        encode(&Msg::Note { text: "two\nlines".into() }, &mut out).unwrap();
        assert!(!out.contains(&b'\n'));
        assert_eq!(decode::<Msg>(&out).unwrap(), Msg::Note { text: "two\nlines".into() });
        out.clear();
        encode(&Msg::Election(3), &mut out).unwrap();
        assert_eq!(out, br#"{"Election":3}"#);
    }

    #[test]
    fn every_f64_comes_back_bit_for_bit() {
        // serde_json parses decimals exactly only with `float_roundtrip`:
        // without it about a third of f64 bit patterns came back 1 ULP off,
        // and a lockstep trace of `div 1 11` differed from the simulated one.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut out = Vec::new();
        for k in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = if k % 2 == 0 { f64::from_bits(x) } else { 1.0 / (k as f64) };
            if !v.is_finite() {
                continue;
            }
            out.clear();
            encode(&v, &mut out).unwrap();
            assert_eq!(decode::<f64>(&out).unwrap().to_bits(), v.to_bits(), "{v:e}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode::<Msg>(b"\xff\x00not json").is_err());
        assert!(decode::<Msg>(br#"{"Nope":1}"#).is_err());
    }
}
