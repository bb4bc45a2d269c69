//! The runner's side of a scenario script (Lua, see `scenario::lua`): scheduled
//! callbacks, hooks on sends, deliveries and observations, and what the script
//! asks the runner to do. The engine never sees Lua itself.

use crate::process::{Nanos, NodeId};
use crate::scenario::Action;

/// Something a script asks for; the runner performs it in order.
#[derive(Clone, Debug, PartialEq)]
pub enum ScriptOut {
    /// A timeline action (a fault, a command, a network change, a note).
    Act(Action),
    /// Fire callback `id` at this time.
    Schedule(Nanos, u32),
    /// End the run now.
    Stop,
}

/// What a send or delivery hook decides for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Carry on as the network decides.
    Pass,
    Drop,
    Duplicate,
    /// Add this much latency.
    Delay(Nanos),
}

/// A message as a hook sees it.
pub struct MsgView<'a> {
    pub from: NodeId,
    pub to: NodeId,
    pub kind: &'static str,
    pub text: &'a str,
    pub body: serde_json::Value,
}

/// An observation as a hook sees it.
pub struct ObsView<'a> {
    pub node: NodeId,
    /// The observation's name as `Observation` spells it (`Elected`, `EnterCs`).
    pub kind: &'a str,
    /// Its trace tag (`elected`, `enter`).
    pub tag: &'a str,
    pub value: serde_json::Value,
    pub text: &'a str,
}

/// A script attached to a run. Errors are the script's own messages, already
/// located (`file:line: …`); the run stops at the first one.
pub trait Director {
    /// Callbacks due before anything else happens, and notes printed while the
    /// script was read.
    fn start(&mut self) -> Result<Vec<ScriptOut>, String>;
    fn fire(&mut self, now: Nanos, id: u32) -> Result<Vec<ScriptOut>, String>;
    fn wants_sends(&self) -> bool;
    fn wants_deliveries(&self) -> bool;
    fn wants_observations(&self) -> bool;
    fn on_send(&mut self, now: Nanos, msg: &MsgView<'_>) -> Result<(Verdict, Vec<ScriptOut>), String>;
    fn on_deliver(&mut self, now: Nanos, msg: &MsgView<'_>) -> Result<(Verdict, Vec<ScriptOut>), String>;
    fn on_observe(&mut self, now: Nanos, obs: &ObsView<'_>) -> Result<Vec<ScriptOut>, String>;
}
