//! The JSON-lines renderer: one object per event, then one summary object.
//!
//! Each event line has `t` (virtual ns), `ev` (the verb), `node` when there is
//! one, and the event's fields; a message appears both as `msg` (its serde form)
//! and `text` (its trace form), with its `kind`.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::event::{TraceEvent, TraceSink};
use crate::process::{Message, Nanos, Process};

pub fn to_json<P: Process>(time: Nanos, ev: &TraceEvent<'_, P>) -> Value {
    let msg_json = |m: &P::Msg| serde_json::to_value(m).unwrap_or(Value::Null);
    let mut v = match ev {
        TraceEvent::Send { to, msg, .. } => {
            json!({"ev": "send", "to": to, "kind": msg.kind(), "msg": msg_json(msg), "text": msg.to_string()})
        }
        TraceEvent::Deliver { from, msg, .. } => {
            json!({"ev": "recv", "from": from, "kind": msg.kind(), "msg": msg_json(msg), "text": msg.to_string()})
        }
        TraceEvent::Drop { from, to, msg, reason } => {
            json!({"ev": "drop", "from": from, "to": to, "reason": reason, "kind": msg.kind(), "msg": msg_json(msg), "text": msg.to_string()})
        }
        TraceEvent::Duplicate { to, msg, .. } => {
            json!({"ev": "dup", "to": to, "kind": msg.kind(), "msg": msg_json(msg), "text": msg.to_string()})
        }
        TraceEvent::Timer { timer, .. } => json!({"ev": "timer", "timer": timer.to_string()}),
        TraceEvent::Command { command, .. } => json!({"ev": "command", "command": command}),
        TraceEvent::CommandIgnored { command, .. } => json!({"ev": "command_ignored", "command": command}),
        TraceEvent::Observe { node, obs } => {
            let mut text = String::new();
            let _ = obs.describe(*node, &mut text);
            json!({"ev": "observe", "obs": obs, "text": text})
        }
        TraceEvent::Crash { .. } => json!({"ev": "crash"}),
        TraceEvent::Recover { .. } => json!({"ev": "recover"}),
        TraceEvent::Partition { groups } => json!({"ev": "partition", "groups": groups}),
        TraceEvent::Block { from, to } => json!({"ev": "block", "from": from, "to": to}),
        TraceEvent::Heal => json!({"ev": "heal"}),
        TraceEvent::Network { change } => json!({"ev": "network", "change": change}),
        TraceEvent::Note { text } => json!({"ev": "note", "text": text}),
        TraceEvent::Stop { reason, pending } => json!({"ev": "stop", "reason": reason, "pending": pending}),
    };
    let obj = v.as_object_mut().expect("every event renders as an object");
    obj.insert("t".into(), json!(time));
    if let Some(n) = ev.node() {
        obj.insert("node".into(), json!(n));
    }
    v
}

/// Streams one JSON object per line.
pub struct JsonlSink<'w> {
    out: io::BufWriter<&'w mut dyn Write>,
    error: Option<io::Error>,
}

impl<'w> JsonlSink<'w> {
    pub fn new(out: &'w mut dyn Write) -> Self {
        JsonlSink { out: io::BufWriter::with_capacity(1 << 16, out), error: None }
    }
    pub fn line(&mut self, v: &Value) {
        if self.error.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut self.out, v).map_err(io::Error::from).and_then(|_| self.out.write_all(b"\n"));
        if let Err(e) = r {
            self.error = Some(e);
        }
    }
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

impl<P: Process> TraceSink<P> for JsonlSink<'_> {
    fn event(&mut self, time: Nanos, ev: &TraceEvent<'_, P>) {
        let v = to_json(time, ev);
        self.line(&v);
    }
}
