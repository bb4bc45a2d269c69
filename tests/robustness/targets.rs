//! The fuzz targets' bodies, shared by the nightly `fuzz/` crate (which
//! includes this file with `#[path]`) and the stable corpus replay in
//! `tests/robustness`. Each takes arbitrary bytes, feeds them through one
//! public entry point, and panics only when a property of that entry point
//! fails; any other panic comes from distlab itself.
//!
//! - [`yaml`]: `scenario::yaml::load_str`, then a bounded run of what loads;
//! - [`lua`]: `scenario::lua::load_str` under a small instruction budget and
//!   memory cap, then a bounded run (the script's callbacks and hooks);
//! - [`frame`]: the wire header (binary and text) and the codec's decode into
//!   every algorithm's message type, with encode∘decode stable;
//! - [`jsonrpc`]: a request line through `rmi::protocol::parse_incoming` and
//!   the calculator service, and a response line as the client reads it.
//!
//! Runs are bounded so that no input can take long: plans with more than
//! [`MAX_NODES`] nodes or a real transport are loaded but not run, a run stops
//! after [`MAX_EVENTS`] events, and a script gets [`LUA_INSTRUCTIONS`]
//! instructions and [`LUA_MEMORY_MB`] MiB.

#![allow(dead_code)]

use distlab::engine::{Format, Limits, RunOptions};
use distlab::process::Message;
use distlab::rmi::net::Service;
use distlab::rmi::protocol::{Incoming, Item, Response, parse_incoming};
use distlab::rmi::server::Calculator;
use distlab::scenario::Plan;
use distlab::transport::TransportKind;
use distlab::transport::codec;
use distlab::transport::frame::Header;

/// Plans with more nodes are loaded and validated, not run.
pub const MAX_NODES: usize = 12;
/// A run stops after this many events.
pub const MAX_EVENTS: u64 = 3_000;
/// The instruction budget of a fuzzed Lua script (whole run).
pub const LUA_INSTRUCTIONS: u64 = 300_000;
/// The memory cap of a fuzzed Lua script.
pub const LUA_MEMORY_MB: u64 = 32;

/// How far an input got, for the replay's tally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// Refused (a load error, a foreign frame, a parse error …).
    Refused,
    /// Accepted (loaded, decoded, parsed).
    Accepted,
    /// A scenario that loaded and ran (to its end, an error or the event limit).
    Ran,
}

/// Runs a plan that loaded, if it is small and simulated. Errors are fine;
/// panics are not.
fn run_bounded(plan: &Plan) -> Reach {
    if plan.nodes.len() > MAX_NODES || plan.transport != TransportKind::Sim {
        return Reach::Accepted;
    }
    let opts = RunOptions { format: Format::Text, limits: Limits { max_events: MAX_EVENTS } };
    let _ = (plan.algorithm.run)(plan, &opts, &mut std::io::sink());
    Reach::Ran
}

/// A YAML scenario: load, then run if small.
pub fn yaml(data: &[u8]) -> Reach {
    let text = String::from_utf8_lossy(data);
    match distlab::scenario::yaml::load_str("fuzz.yaml", &text) {
        Ok(plan) => run_bounded(&plan),
        Err(_) => Reach::Refused,
    }
}

/// The line put in front of every fuzzed script: it sets a small budget and
/// cap, and replaces `limits` with one that can only lower them (a script of
/// the corpus that raises its own budget would otherwise make a mutant with
/// an endless loop run for minutes). It stays on line 1, so the script's own
/// line numbers do not move.
pub fn lua_prelude() -> String {
    format!(
        "do local raw, B, M = limits, {LUA_INSTRUCTIONS}, {LUA_MEMORY_MB}; \
         local function clamp(v, hi) if v == nil then return hi end; local n = tonumber(v); \
         if n == nil then return v end; if n ~= n or n > hi or n < 1 then return hi end; return n end; \
         raw {{ instructions = B, memory_mb = M }}; \
         limits = function(t) if type(t) ~= 'table' then return raw(t) end; \
         raw {{ instructions = clamp(rawget(t, 'instructions'), B), memory_mb = clamp(rawget(t, 'memory_mb'), M) }} end end; "
    )
}

/// A Lua scenario under [`lua_prelude`]: load, then run if small.
pub fn lua(data: &[u8]) -> Reach {
    let text = format!("{}{}", lua_prelude(), String::from_utf8_lossy(data));
    match distlab::scenario::lua::load_str("fuzz.lua", &text) {
        Ok(plan) => run_bounded(&plan),
        Err(_) => Reach::Refused,
    }
}

/// Decodes `bytes` as a message of type `M`; what decodes must encode, and
/// encode∘decode must then be the identity on the encoding.
fn decode_as<M: Message>(bytes: &[u8]) -> bool {
    let Ok(m) = codec::decode::<M>(bytes) else { return false };
    let _ = format!("{m} {}", m.kind());
    let mut first = Vec::new();
    codec::encode(&m, &mut first).expect("a decoded message encodes");
    assert!(!first.contains(&b'\n'), "an encoding holds a newline: {}", String::from_utf8_lossy(&first));
    let again: M =
        codec::decode(&first).unwrap_or_else(|e| panic!("an encoding does not decode ({e}): {}", String::from_utf8_lossy(&first)));
    let mut second = Vec::new();
    codec::encode(&again, &mut second).expect("a decoded message encodes");
    assert_eq!(String::from_utf8_lossy(&first), String::from_utf8_lossy(&second), "encode∘decode is not stable");
    true
}

/// A payload decoded as every algorithm's message type; whether any took it.
fn decode_payload(bytes: &[u8]) -> bool {
    use distlab::algorithms::{balance, clock, election, multicast, mutex, rpc};
    let decoded = [
        decode_as::<election::ring::Msg>(bytes),
        decode_as::<election::bully::Msg>(bytes),
        decode_as::<mutex::central::Msg>(bytes),
        decode_as::<mutex::lamport::Msg>(bytes),
        decode_as::<mutex::maekawa::Msg>(bytes),
        decode_as::<mutex::raymond::Msg>(bytes),
        decode_as::<mutex::ricart_agrawala::Msg>(bytes),
        decode_as::<mutex::suzuki_kasami::Msg>(bytes),
        decode_as::<clock::berkeley::Msg>(bytes),
        decode_as::<clock::cristian::Msg>(bytes),
        decode_as::<clock::lamport::Msg>(bytes),
        decode_as::<clock::ntp::Msg>(bytes),
        decode_as::<clock::server::Msg>(bytes),
        decode_as::<clock::vector::Msg>(bytes),
        decode_as::<balance::Msg>(bytes),
        decode_as::<multicast::Msg>(bytes),
        decode_as::<rpc::Msg>(bytes),
    ];
    decoded.contains(&true)
}

/// A received frame: the binary header (UDP, TCP, multicast), the text
/// header (file transport), and the bytes as a bare payload.
pub fn frame(data: &[u8]) -> Reach {
    let mut decoded = false;
    if let Some((h, payload)) = Header::parse(data) {
        let mut out = Vec::new();
        h.write(&mut out);
        out.extend_from_slice(payload);
        assert_eq!(out, data, "a parsed binary frame does not write back the same");
        decoded |= decode_payload(payload);
    }
    if let Ok(line) = std::str::from_utf8(data)
        && let Some((h, payload)) = Header::parse_text(line)
    {
        let again = format!("{}{payload}", h.text());
        assert_eq!(Header::parse_text(&again), Some((h, payload)), "a text header does not parse back");
        decoded |= decode_payload(payload.as_bytes());
    }
    decoded |= decode_payload(data);
    if decoded { Reach::Accepted } else { Reach::Refused }
}

/// An answer line must be one line of JSON that a client parses. The id is
/// echoed byte for byte as the request gave it (ids beyond 64 bits round-trip),
/// so the line is read as the client reads it: raw JSON, numbers unconverted.
fn check_answer(line: &str) {
    assert!(!line.contains('\n'), "an answer spans lines: {line}");
    serde_json::from_str::<Box<serde_json::value::RawValue>>(line).unwrap_or_else(|e| panic!("an answer is not JSON ({e}): {line}"));
}

/// A JSON-RPC line: as a request to the calculator server (what its
/// connection thread does with it, without the socket), and as a response
/// the client reads.
pub fn jsonrpc(data: &[u8]) -> Reach {
    let mut reach = Reach::Refused;
    let calc = Calculator { echo: false };
    let mut answer = |item: Item| -> Option<Response> {
        match item {
            Err((id, e)) => Some(Response::new(id, Err(e))),
            Ok(req) => {
                reach = Reach::Accepted;
                let outcome = calc.call(1, &req.method, req.params.as_ref());
                req.id.map(|id| Response::new(id, outcome))
            }
        }
    };
    match parse_incoming(data) {
        Incoming::Blank => {}
        Incoming::Invalid(e) => check_answer(&Response::new(distlab::rmi::protocol::Id::null(), Err(e)).to_line()),
        Incoming::Single(item) => {
            if let Some(r) = answer(item) {
                check_answer(&r.to_line());
            }
        }
        Incoming::Batch(items) => {
            let answers: Vec<Response> = items.into_iter().filter_map(answer).collect();
            check_answer(&serde_json::to_string(&answers).expect("responses serialise"));
        }
    }
    if let Ok(r) = serde_json::from_slice::<Response>(data) {
        let line = r.to_line();
        check_answer(&line);
        let back: Response = serde_json::from_str(&line).unwrap_or_else(|e| panic!("a response line does not parse back ({e}): {line}"));
        assert_eq!(back.to_line(), line, "a response does not round-trip");
        reach = Reach::Accepted;
    }
    reach
}
