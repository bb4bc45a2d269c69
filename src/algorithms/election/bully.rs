//! `election.bully` — Garcia-Molina's bully algorithm.
//!
//! **Guarantee.** With reliable channels, timeouts longer than a round trip
//! and no crash during the last election, every live node ends following the
//! highest live id, whoever starts the election (`start_election`,
//! `detect_failure`, a watchdog or a recovery) and whichever coordinator the
//! nodes followed before; a recovered node with a higher id than the
//! coordinator takes over ("bullies back").
//!
//! **Messages.** A node that starts an election sends `Election` to every
//! higher id. A live higher node answers `OK` and, unless it is in an election
//! already, holds its own, whatever coordinator it followed: a dead one stays
//! silent, so it cannot be elected again. A node with no `OK` within `timeout`
//! wins and sends `Coordinator` to every lower id. Best case n−2 messages: the
//! second-highest node notices the coordinator's failure and announces itself
//! at once. Worst case O(n²): with m live nodes, when the lowest one notices
//! that the coordinator failed, every live node holds one election:
//! m(m−1)/2 `Election` and as many `OK` among the live nodes, one `Election`
//! to the dead coordinator from each of the m−1 others, and m−1
//! `Coordinator` (the highest live node waits `timeout` for the dead one, so
//! every Election arrives while its receiver is still in its own election).
//!
//! **Failure detection.** `detect_failure` (or an expired heartbeat watchdog)
//! means "my coordinator is down": that node leaves it out of its own Election
//! messages. An Election says nothing more than "an election is on": its
//! receivers ask every higher id. A node that got an OK but hears no
//! Coordinator within `election_timeout` starts again. A node told of a lower
//! coordinator starts an election of its own.
//!
//! **No election storms.** A live coordinator answers an Election for itself
//! with OK and `Coordinator`, instead of holding an election that could only
//! elect it again (a higher node that recovers holds its own election); a
//! heartbeat from a higher coordinator is simply followed. Without the first
//! rule the 20-node random crash scenario (`scenarios/lua`) sends about
//! 750,000 messages in one simulated second instead of about 3,000.
//!
//! **Loss.** The algorithm assumes reliable delivery: a lost OK lets a lower
//! node declare itself while a higher one also wins, and nodes may follow
//! either. With `heartbeat`, the higher coordinator's heartbeats make the
//! others elect again and the run converges (tested over many seeds).
//!
//! **Source.** H. Garcia-Molina, "Elections in a distributed computing system",
//! IEEE Trans. Computers C-31(1), 1982; Coulouris et al., *Distributed
//! Systems*, §15.3 (bully algorithm and its message counts).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Params, Timing, highest};
use crate::check::Checker;
use crate::check::election::LeaderChecker;
use crate::process::{Ctx, Message, NodeId, Observation, Process, Setup};
use crate::scenario::Command;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// "I hold an election": sent to every higher id.
    Election,
    Ok,
    Coordinator(NodeId),
    Heartbeat,
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Election => f.write_str("Election"),
            Msg::Ok => f.write_str("OK"),
            Msg::Coordinator(c) => write!(f, "Coordinator({c})"),
            Msg::Heartbeat => f.write_str("Heartbeat"),
        }
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Election => "Election",
            Msg::Ok => "OK",
            Msg::Coordinator(_) => "Coordinator",
            Msg::Heartbeat => "Heartbeat",
        }
    }
}

pub const KINDS: &[&str] = &["Election", "OK", "Coordinator", "Heartbeat"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// No OK arrived: this node wins.
    NoOk,
    /// An OK arrived but no Coordinator followed.
    NoCoordinator,
    Heartbeat,
    Watchdog,
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::NoOk => f.write_str("no OK from a higher process"),
            Timer::NoCoordinator => f.write_str("no coordinator announced in time"),
            Timer::Heartbeat => f.write_str("heartbeat"),
            Timer::Watchdog => f.write_str("no heartbeat from the coordinator"),
        }
    }
}

pub struct BullyNode {
    id: NodeId,
    timing: Timing,
    leader: Option<NodeId>,
    electing: bool,
    /// The coordinator this node last suspected.
    suspected: Option<NodeId>,
}

impl BullyNode {
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Starts an election, leaving out `down` (a coordinator known to have failed).
    fn start_election(&mut self, ctx: &mut Ctx<'_, Self>, down: Option<NodeId>) {
        ctx.emit(Observation::ElectionStarted);
        self.electing = true;
        ctx.cancel_timer(Timer::NoCoordinator);
        // The election replaces the watchdog: its own timeouts take over.
        ctx.cancel_timer(Timer::Watchdog);
        let id = self.id;
        let higher: Vec<NodeId> = ctx.nodes().iter().copied().filter(|&n| n > id && Some(n) != down).collect();
        if higher.is_empty() {
            self.win(ctx);
            return;
        }
        for n in higher {
            ctx.send(n, Msg::Election);
        }
        ctx.set_timer(Timer::NoOk, self.timing.timeout);
    }

    fn win(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.leader = Some(self.id);
        self.electing = false;
        ctx.cancel_timer(Timer::NoOk);
        ctx.cancel_timer(Timer::NoCoordinator);
        ctx.cancel_timer(Timer::Watchdog);
        ctx.emit(Observation::Elected);
        let id = self.id;
        let lower: Vec<NodeId> = ctx.nodes().iter().copied().filter(|&n| n < id).collect();
        for n in lower {
            ctx.send(n, Msg::Coordinator(id));
        }
        if let Some(h) = self.timing.heartbeat {
            ctx.set_timer(Timer::Heartbeat, h);
        }
    }

    fn follow(&mut self, ctx: &mut Ctx<'_, Self>, c: NodeId) {
        self.leader = Some(c);
        self.electing = false;
        ctx.cancel_timer(Timer::NoOk);
        ctx.cancel_timer(Timer::NoCoordinator);
        ctx.cancel_timer(Timer::Heartbeat);
        ctx.emit(Observation::Leader(c));
        if self.timing.heartbeat.is_some() {
            ctx.set_timer(Timer::Watchdog, self.timing.watchdog);
        }
    }

    /// Suspects the coordinator (once per coordinator) and returns it.
    fn suspect_leader(&mut self, ctx: &mut Ctx<'_, Self>) -> Option<NodeId> {
        let l = self.leader.filter(|&l| l != self.id)?;
        if self.suspected != Some(l) {
            self.suspected = Some(l);
            ctx.emit(Observation::Suspects(l));
        }
        Some(l)
    }
}

impl Process for BullyNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        BullyNode { id, timing: Timing::new(&setup.params.into(), setup.max_latency, 4), leader: None, electing: false, suspected: None }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let top = highest(ctx.nodes());
        self.leader = Some(top);
        ctx.emit(Observation::Leader(top));
        if let Some(h) = self.timing.heartbeat {
            if top == self.id {
                ctx.set_timer(Timer::Heartbeat, h);
            } else {
                ctx.set_timer(Timer::Watchdog, self.timing.watchdog);
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Election => {
                if from > self.id {
                    return;
                }
                ctx.send(from, Msg::Ok);
                if self.leader == Some(self.id) {
                    // A live coordinator answers for itself: it is alive, so
                    // its own election could only end with itself again.
                    ctx.send(from, Msg::Coordinator(self.id));
                } else if !self.electing {
                    // Garcia-Molina: a process that gets Election from a lower
                    // id holds its own election, to every higher id, whoever it
                    // followed: a dead coordinator stays silent, so the highest
                    // *live* id wins.
                    self.start_election(ctx, None);
                }
            }
            Msg::Ok => {
                if self.electing {
                    ctx.cancel_timer(Timer::NoOk);
                    ctx.set_timer(Timer::NoCoordinator, self.timing.election_timeout);
                }
            }
            Msg::Coordinator(c) => {
                if c < self.id {
                    // A lower node claims to lead while this one is alive: bully it.
                    if !self.electing {
                        self.start_election(ctx, None);
                    }
                    return;
                }
                if self.leader == Some(c) && !self.electing {
                    return; // already following it
                }
                self.follow(ctx, c);
            }
            Msg::Heartbeat => {
                if self.leader == Some(from) {
                    ctx.set_timer(Timer::Watchdog, self.timing.watchdog);
                } else if from > self.id && self.leader.is_none_or(|l| from > l) {
                    // A higher coordinator is alive (after a partition heals): follow it.
                    self.follow(ctx, from);
                } else if self.leader == Some(self.id) && from < self.id {
                    // A lower node still acts as coordinator: bully it.
                    ctx.send(from, Msg::Coordinator(self.id));
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::NoOk => {
                if self.electing {
                    self.win(ctx);
                }
            }
            Timer::NoCoordinator => {
                if self.electing {
                    self.start_election(ctx, None);
                }
            }
            Timer::Heartbeat => {
                if self.leader == Some(self.id)
                    && let Some(h) = self.timing.heartbeat
                {
                    ctx.broadcast(Msg::Heartbeat);
                    ctx.set_timer(Timer::Heartbeat, h);
                }
            }
            Timer::Watchdog => {
                let down = self.suspect_leader(ctx);
                self.start_election(ctx, down);
            }
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        let down = if cmd.name == "detect_failure" { self.suspect_leader(ctx) } else { None };
        self.start_election(ctx, down);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.leader = None;
        self.electing = false;
        self.start_election(ctx, None);
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(LeaderChecker::new())]
    }
}
