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
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode::<Msg>(b"\xff\x00not json").is_err());
        assert!(decode::<Msg>(br#"{"Nope":1}"#).is_err());
    }
}
