//! The mutual-exclusion family: nodes ask for a critical section (`do:
//! request`), stay inside for `hold` (or until `do: release`), and leave.
//!
//! [`Cs`] is the part every algorithm shares: it queues requests that arrive
//! while one is in progress, emits the `Request`/`EnterCs`/`ExitCs`
//! observations the checkers read, and runs the hold timer. Each algorithm
//! decides only *when* a node may enter and what it sends.

pub mod central;
pub mod lamport;
pub mod maekawa;
pub mod raymond;
pub mod ricart_agrawala;
pub mod suzuki_kasami;

use serde::Deserialize;

use crate::algorithms::registry::{CommandSpec, ParamSpec};
use crate::process::{Nanos, Observation};
use crate::scenario::units::Dur;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec { name: "request", args: &[], help: "the node asks for the critical section" },
    CommandSpec { name: "release", args: &[], help: "the node leaves the critical section (when params.hold is 0)" },
];

pub const HOLD: ParamSpec = ParamSpec { name: "hold", help: "time inside the critical section (default 5ms; 0: until `do: release`)" };

/// Default time inside the critical section.
pub const DEFAULT_HOLD: Nanos = 5_000_000;

/// Where a node is with respect to the critical section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    Idle,
    Requesting,
    Inside,
}

/// The shared request/enter/exit bookkeeping of one node.
#[derive(Clone, Debug, Default)]
pub struct Cs {
    pub phase: Phase,
    /// Requests that arrived while another was in progress.
    pub queued: u32,
    /// Time inside; `None` means until an explicit `release`.
    pub hold: Option<Nanos>,
}

/// What the algorithm must do after a `request` or a release.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Nothing,
    /// Start a new request now.
    Ask,
}

impl Cs {
    pub fn new(hold: Option<Dur>) -> Cs {
        let hold = match hold {
            Some(Dur(0)) => None,
            Some(Dur(d)) => Some(d),
            None => Some(DEFAULT_HOLD),
        };
        Cs { phase: Phase::Idle, queued: 0, hold }
    }

    /// A `request` command: ask now, or queue it behind the current one.
    pub fn on_request(&mut self) -> Next {
        if self.phase == Phase::Idle {
            self.phase = Phase::Requesting;
            Next::Ask
        } else {
            self.queued += 1;
            Next::Nothing
        }
    }

    /// The observation that starts a request, with its timestamp if the
    /// algorithm orders requests by one.
    pub fn asked(ts: Option<u64>) -> Observation {
        Observation::Request(ts)
    }

    /// After leaving: ask again if a request is queued.
    pub fn after_exit(&mut self) -> Next {
        if self.queued > 0 {
            self.queued -= 1;
            self.phase = Phase::Requesting;
            Next::Ask
        } else {
            self.phase = Phase::Idle;
            Next::Nothing
        }
    }

    /// Forgets everything: a crash loses the node's volatile state.
    pub fn reset(&mut self) {
        self.phase = Phase::Idle;
        self.queued = 0;
    }
}

impl Cs {
    /// Enters: emits `EnterCs` and starts the hold timer `timer`.
    pub fn enter<P: crate::process::Process>(&mut self, ctx: &mut crate::process::Ctx<'_, P>, timer: P::Timer) {
        self.phase = Phase::Inside;
        ctx.emit(Observation::EnterCs);
        if let Some(h) = self.hold {
            ctx.set_timer(timer, h);
        }
    }

    /// Leaves if inside: emits `ExitCs`; false if the node was not inside.
    pub fn exit<P: crate::process::Process>(&mut self, ctx: &mut crate::process::Ctx<'_, P>) -> bool {
        if self.phase != Phase::Inside {
            return false;
        }
        ctx.emit(Observation::ExitCs);
        true
    }
}

/// `params:` shared by the mutex algorithms without settings of their own.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Time inside the critical section (default 5ms; 0: until `release`).
    #[serde(default)]
    pub hold: Option<Dur>,
}

/// The one timer of the mutex algorithms: the time inside is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    Hold,
}

impl std::fmt::Display for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hold time over")
    }
}

/// A mutex node as the shared commands see it: how it asks and how it leaves.
pub trait CsNode: crate::process::Process {
    fn cs(&mut self) -> &mut Cs;
    fn ask(&mut self, ctx: &mut crate::process::Ctx<'_, Self>);
    fn leave(&mut self, ctx: &mut crate::process::Ctx<'_, Self>);
}

/// Implements [`CsNode`] for a node type with a `cs: Cs` field and inherent
/// `ask` and `leave` methods.
macro_rules! cs_node {
    ($node:ident) => {
        impl super::CsNode for $node {
            fn cs(&mut self) -> &mut super::Cs {
                &mut self.cs
            }
            fn ask(&mut self, ctx: &mut crate::process::Ctx<'_, Self>) {
                $node::ask(self, ctx);
            }
            fn leave(&mut self, ctx: &mut crate::process::Ctx<'_, Self>) {
                $node::leave(self, ctx);
            }
        }
    };
}
pub(crate) use cs_node;

/// `request` asks (or queues behind the current request); `release` leaves.
pub fn on_command<P: CsNode>(node: &mut P, ctx: &mut crate::process::Ctx<'_, P>, cmd: &crate::scenario::Command) {
    match cmd.name.as_str() {
        "request" => {
            if node.cs().on_request() == Next::Ask {
                node.ask(ctx);
            }
        }
        _ => node.leave(ctx),
    }
}
