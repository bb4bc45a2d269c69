//! The algorithm registry: every name a scenario may give in `algorithm:`, with
//! its commands, message kinds, checks and parameters, and the monomorphised
//! function that runs it.

use std::io::Write;

use crate::engine::{RunError, RunOptions, run_plan};
use crate::process::Process;
use crate::report::RunReport;
use crate::scenario::Plan;
use crate::trace::pictures::{PictureOptions, picture_plan};

use super::{balance, clock, election, multicast, mutex, rpc};

/// A command a scenario can send to a node with `do:`.
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    pub args: &'static [&'static str],
    pub help: &'static str,
}

/// A key of the algorithm's `params:` block.
#[derive(Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub help: &'static str,
}

pub type RunFn = fn(&Plan, &RunOptions, &mut dyn Write) -> Result<RunReport, RunError>;

/// Runs a plan and renders it as a picture (SVG, Mermaid, ShiViz, HTML).
pub type PictureFn = fn(&Plan, &RunOptions, PictureOptions) -> Result<(String, RunReport), RunError>;

/// One runnable algorithm.
pub struct Algorithm {
    pub name: &'static str,
    pub family: &'static str,
    pub summary: &'static str,
    pub commands: &'static [CommandSpec],
    pub message_kinds: &'static [&'static str],
    pub checks: &'static [&'static str],
    pub params: &'static [ParamSpec],
    pub validate_params: fn(&serde_yaml::Value) -> Result<(), String>,
    pub run: RunFn,
    pub picture: PictureFn,
}

impl std::fmt::Debug for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Checks a `params:` block against `P::Params` (unknown keys, wrong types).
pub fn validate_params<P: Process>(v: &serde_yaml::Value) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    serde_yaml::from_value::<P::Params>(v.clone()).map(|_| ()).map_err(|e| e.to_string().replace('`', "\""))
}

pub static ALGORITHMS: &[Algorithm] = &[
    Algorithm {
        name: "election.ring",
        family: "election",
        summary: "Chang-Roberts ring election; skips crashed successors (Ack + timeout)",
        commands: election::COMMANDS,
        message_kinds: election::ring::KINDS,
        checks: crate::check::election::CHECKS,
        params: election::RING_PARAMS,
        validate_params: validate_params::<election::ring::RingNode>,
        run: run_plan::<election::ring::RingNode>,
        picture: picture_plan::<election::ring::RingNode>,
    },
    Algorithm {
        name: "election.bully",
        family: "election",
        summary: "Garcia-Molina bully election with Election/OK/Coordinator and timeouts",
        commands: election::COMMANDS,
        message_kinds: election::bully::KINDS,
        checks: crate::check::election::CHECKS,
        params: election::BULLY_PARAMS,
        validate_params: validate_params::<election::bully::BullyNode>,
        run: run_plan::<election::bully::BullyNode>,
        picture: picture_plan::<election::bully::BullyNode>,
    },
    Algorithm {
        name: "mutex.central",
        family: "mutex",
        summary: "a coordinator grants the critical section in FIFO order (3 messages per entry)",
        commands: mutex::COMMANDS,
        message_kinds: mutex::central::KINDS,
        checks: crate::check::mutex::CHECKS,
        params: mutex::central::PARAMS,
        validate_params: validate_params::<mutex::central::CentralNode>,
        run: run_plan::<mutex::central::CentralNode>,
        picture: picture_plan::<mutex::central::CentralNode>,
    },
    Algorithm {
        name: "mutex.lamport",
        family: "mutex",
        summary: "Lamport's timestamp-queue mutual exclusion, 3(N-1) messages per entry",
        commands: mutex::COMMANDS,
        message_kinds: mutex::lamport::KINDS,
        checks: crate::check::mutex::CHECKS_FAIR,
        params: mutex::lamport::PARAMS,
        validate_params: validate_params::<mutex::lamport::LamportNode>,
        run: run_plan::<mutex::lamport::LamportNode>,
        picture: picture_plan::<mutex::lamport::LamportNode>,
    },
    Algorithm {
        name: "mutex.ricart-agrawala",
        family: "mutex",
        summary: "Ricart-Agrawala permission-based mutual exclusion, 2(N-1) messages per entry",
        commands: mutex::COMMANDS,
        message_kinds: mutex::ricart_agrawala::KINDS,
        checks: crate::check::mutex::CHECKS_FAIR,
        params: mutex::ricart_agrawala::PARAMS,
        validate_params: validate_params::<mutex::ricart_agrawala::RaNode>,
        run: run_plan::<mutex::ricart_agrawala::RaNode>,
        picture: picture_plan::<mutex::ricart_agrawala::RaNode>,
    },
    Algorithm {
        name: "mutex.suzuki-kasami",
        family: "mutex",
        summary: "Suzuki-Kasami broadcast token algorithm, N messages per entry (0 at the holder)",
        commands: mutex::COMMANDS,
        message_kinds: mutex::suzuki_kasami::KINDS,
        checks: crate::check::mutex::CHECKS,
        params: mutex::suzuki_kasami::PARAMS,
        validate_params: validate_params::<mutex::suzuki_kasami::SkNode>,
        run: run_plan::<mutex::suzuki_kasami::SkNode>,
        picture: picture_plan::<mutex::suzuki_kasami::SkNode>,
    },
    Algorithm {
        name: "mutex.raymond",
        family: "mutex",
        summary: "Raymond's tree-based token algorithm, at most 2D messages per entry (D the tree's diameter)",
        commands: mutex::COMMANDS,
        message_kinds: mutex::raymond::KINDS,
        checks: crate::check::mutex::CHECKS,
        params: mutex::raymond::PARAMS,
        validate_params: validate_params::<mutex::raymond::RaymondNode>,
        run: run_plan::<mutex::raymond::RaymondNode>,
        picture: picture_plan::<mutex::raymond::RaymondNode>,
    },
    Algorithm {
        name: "mutex.maekawa",
        family: "mutex",
        summary: "Maekawa's grid-quorum voting with INQUIRE/YIELD/FAILED, 3(K-1) messages per entry (K = 2sqrt(N)-1 on a grid)",
        commands: mutex::COMMANDS,
        message_kinds: mutex::maekawa::KINDS,
        checks: crate::check::mutex::CHECKS,
        params: mutex::maekawa::PARAMS,
        validate_params: validate_params::<mutex::maekawa::MaekawaNode>,
        run: run_plan::<mutex::maekawa::MaekawaNode>,
        picture: picture_plan::<mutex::maekawa::MaekawaNode>,
    },
    Algorithm {
        name: "multicast.basic",
        family: "multicast",
        summary: "best-effort multicast: one DATA to each member, nothing repaired or ordered, N-1 messages per multicast; promises validity, agreement, integrity only when the network loses and duplicates nothing",
        commands: multicast::COMMANDS,
        message_kinds: multicast::basic::KINDS,
        checks: crate::check::multicast::CHECKS,
        params: &[],
        validate_params: validate_params::<multicast::MulticastNode<multicast::basic::Basic>>,
        run: run_plan::<multicast::MulticastNode<multicast::basic::Basic>>,
        picture: picture_plan::<multicast::MulticastNode<multicast::basic::Basic>>,
    },
    Algorithm {
        name: "multicast.reliable",
        family: "multicast",
        summary: "reliable multicast: per-link sequence numbers, ACK/NACK and bounded retransmission, 2(N-1) per multicast; promises validity, integrity",
        commands: multicast::COMMANDS,
        message_kinds: multicast::reliable::KINDS,
        checks: crate::check::multicast::CHECKS,
        params: multicast::LINK_PARAMS,
        validate_params: validate_params::<multicast::MulticastNode<multicast::reliable::Reliable>>,
        run: run_plan::<multicast::MulticastNode<multicast::reliable::Reliable>>,
        picture: picture_plan::<multicast::MulticastNode<multicast::reliable::Reliable>>,
    },
    Algorithm {
        name: "multicast.fifo",
        family: "multicast",
        summary: "FIFO multicast: reliable, plus a hold-back queue per sender, 2(N-1) per multicast; promises validity, integrity, fifo",
        commands: multicast::COMMANDS,
        message_kinds: multicast::fifo::KINDS,
        checks: crate::check::multicast::CHECKS,
        params: multicast::LINK_PARAMS,
        validate_params: validate_params::<multicast::MulticastNode<multicast::fifo::Fifo>>,
        run: run_plan::<multicast::MulticastNode<multicast::fifo::Fifo>>,
        picture: picture_plan::<multicast::MulticastNode<multicast::fifo::Fifo>>,
    },
    Algorithm {
        name: "multicast.causal",
        family: "multicast",
        summary: "causal multicast: reliable, vector timestamps and a hold-back queue, 2(N-1) per multicast; promises validity, integrity, fifo, causal",
        commands: multicast::COMMANDS,
        message_kinds: multicast::causal::KINDS,
        checks: crate::check::multicast::CHECKS,
        params: multicast::LINK_PARAMS,
        validate_params: validate_params::<multicast::MulticastNode<multicast::causal::Causal>>,
        run: run_plan::<multicast::MulticastNode<multicast::causal::Causal>>,
        picture: picture_plan::<multicast::MulticastNode<multicast::causal::Causal>>,
    },
    Algorithm {
        name: "multicast.total",
        family: "multicast",
        summary: "total-order multicast with a fixed sequencer: DATA then ORDER, N-1 + N-1 plus ACKs; promises validity, integrity, total",
        commands: multicast::COMMANDS,
        message_kinds: multicast::total::KINDS,
        checks: crate::check::multicast::CHECKS,
        params: multicast::total::PARAMS,
        validate_params: validate_params::<multicast::MulticastNode<multicast::total::Total>>,
        run: run_plan::<multicast::MulticastNode<multicast::total::Total>>,
        picture: picture_plan::<multicast::MulticastNode<multicast::total::Total>>,
    },
    Algorithm {
        name: "multicast.isis",
        family: "multicast",
        summary: "ISIS total order: PROPOSE priorities, AGREE on the largest, 3(N-1) plus ACKs; promises validity, integrity, total",
        commands: multicast::COMMANDS,
        message_kinds: multicast::isis::KINDS,
        checks: crate::check::multicast::CHECKS,
        params: multicast::LINK_PARAMS,
        validate_params: validate_params::<multicast::MulticastNode<multicast::isis::Isis>>,
        run: run_plan::<multicast::MulticastNode<multicast::isis::Isis>>,
        picture: picture_plan::<multicast::MulticastNode<multicast::isis::Isis>>,
    },
    Algorithm {
        name: "clock.server",
        family: "clock",
        summary: "the seed's time server: every node sets its clock to the server's time (ignores the delay)",
        commands: clock::SYNC_COMMANDS,
        message_kinds: clock::server::KINDS,
        checks: crate::check::clock::SYNC_CHECKS,
        params: clock::server::PARAMS,
        validate_params: validate_params::<clock::server::ServerNode>,
        run: run_plan::<clock::server::ServerNode>,
        picture: picture_plan::<clock::server::ServerNode>,
    },
    Algorithm {
        name: "clock.cristian",
        family: "clock",
        summary: "Cristian's algorithm: T + RTT/2 from a time server, error within ±(RTT/2 - min delay)",
        commands: clock::SYNC_COMMANDS,
        message_kinds: clock::cristian::KINDS,
        checks: crate::check::clock::SYNC_CHECKS,
        params: clock::cristian::PARAMS,
        validate_params: validate_params::<clock::cristian::CristianNode>,
        run: run_plan::<clock::cristian::CristianNode>,
        picture: picture_plan::<clock::cristian::CristianNode>,
    },
    Algorithm {
        name: "clock.berkeley",
        family: "clock",
        summary: "Berkeley: a master polls, averages the clocks within a threshold, sends each its adjustment",
        commands: clock::SYNC_COMMANDS,
        message_kinds: clock::berkeley::KINDS,
        checks: crate::check::clock::SYNC_CHECKS,
        params: clock::berkeley::PARAMS,
        validate_params: validate_params::<clock::berkeley::BerkeleyNode>,
        run: run_plan::<clock::berkeley::BerkeleyNode>,
        picture: picture_plan::<clock::berkeley::BerkeleyNode>,
    },
    Algorithm {
        name: "clock.ntp",
        family: "clock",
        summary: "NTP's four-timestamp exchange; keeps the least-delay sample of 8, error within ±delay/2",
        commands: clock::SYNC_COMMANDS,
        message_kinds: clock::ntp::KINDS,
        checks: crate::check::clock::SYNC_CHECKS,
        params: clock::ntp::PARAMS,
        validate_params: validate_params::<clock::ntp::NtpNode>,
        run: run_plan::<clock::ntp::NtpNode>,
        picture: picture_plan::<clock::ntp::NtpNode>,
    },
    Algorithm {
        name: "clock.lamport",
        family: "clock",
        summary: "Lamport logical clocks on a send/local pattern: e -> f implies L(e) < L(f)",
        commands: clock::LOGICAL_COMMANDS,
        message_kinds: clock::lamport::KINDS,
        checks: crate::check::clock::LAMPORT_CHECKS,
        params: clock::lamport::PARAMS,
        validate_params: validate_params::<clock::lamport::LamportClock>,
        run: run_plan::<clock::lamport::LamportClock>,
        picture: picture_plan::<clock::lamport::LamportClock>,
    },
    Algorithm {
        name: "clock.vector",
        family: "clock",
        summary: "vector clocks on a send/local pattern: e -> f iff V(e) < V(f)",
        commands: clock::LOGICAL_COMMANDS,
        message_kinds: clock::vector::KINDS,
        checks: crate::check::clock::VECTOR_CHECKS,
        params: clock::vector::PARAMS,
        validate_params: validate_params::<clock::vector::VectorClock>,
        run: run_plan::<clock::vector::VectorClock>,
        picture: picture_plan::<clock::vector::VectorClock>,
    },
    Algorithm {
        name: "balance.round-robin",
        family: "balance",
        summary: "the seed's round robin: servers take jobs in turn",
        commands: balance::COMMANDS,
        message_kinds: balance::KINDS,
        checks: crate::check::balance::CHECKS,
        params: balance::PARAMS,
        validate_params: validate_params::<balance::BalanceNode<balance::round_robin::RoundRobin>>,
        run: run_plan::<balance::BalanceNode<balance::round_robin::RoundRobin>>,
        picture: picture_plan::<balance::BalanceNode<balance::round_robin::RoundRobin>>,
    },
    Algorithm {
        name: "balance.weighted-round-robin",
        family: "balance",
        summary: "smooth weighted round robin: w_i jobs of every sum(w), interleaved",
        commands: balance::COMMANDS,
        message_kinds: balance::KINDS,
        checks: crate::check::balance::CHECKS,
        params: balance::WEIGHTED_PARAMS,
        validate_params: validate_params::<balance::BalanceNode<balance::weighted_round_robin::WeightedRoundRobin>>,
        run: run_plan::<balance::BalanceNode<balance::weighted_round_robin::WeightedRoundRobin>>,
        picture: picture_plan::<balance::BalanceNode<balance::weighted_round_robin::WeightedRoundRobin>>,
    },
    Algorithm {
        name: "balance.random",
        family: "balance",
        summary: "a seeded uniform random server per job",
        commands: balance::COMMANDS,
        message_kinds: balance::KINDS,
        checks: crate::check::balance::CHECKS,
        params: balance::PARAMS,
        validate_params: validate_params::<balance::BalanceNode<balance::random::Random>>,
        run: run_plan::<balance::BalanceNode<balance::random::Random>>,
        picture: picture_plan::<balance::BalanceNode<balance::random::Random>>,
    },
    Algorithm {
        name: "balance.least-connections",
        family: "balance",
        summary: "the server with the fewest unfinished jobs",
        commands: balance::COMMANDS,
        message_kinds: balance::KINDS,
        checks: crate::check::balance::CHECKS,
        params: balance::PARAMS,
        validate_params: validate_params::<balance::BalanceNode<balance::least_connections::LeastConnections>>,
        run: run_plan::<balance::BalanceNode<balance::least_connections::LeastConnections>>,
        picture: picture_plan::<balance::BalanceNode<balance::least_connections::LeastConnections>>,
    },
    Algorithm {
        name: "balance.power-of-two",
        family: "balance",
        summary: "two seeded random samples, the less loaded wins",
        commands: balance::COMMANDS,
        message_kinds: balance::KINDS,
        checks: crate::check::balance::CHECKS,
        params: balance::PARAMS,
        validate_params: validate_params::<balance::BalanceNode<balance::power_of_two::PowerOfTwo>>,
        run: run_plan::<balance::BalanceNode<balance::power_of_two::PowerOfTwo>>,
        picture: picture_plan::<balance::BalanceNode<balance::power_of_two::PowerOfTwo>>,
    },
    Algorithm {
        name: "balance.consistent-hash",
        family: "balance",
        summary: "hash ring with virtual nodes: a join or leave moves ~1/N of the keys",
        commands: balance::COMMANDS,
        message_kinds: balance::KINDS,
        checks: crate::check::balance::CHECKS,
        params: balance::HASH_PARAMS,
        validate_params: validate_params::<balance::BalanceNode<balance::consistent_hash::ConsistentHash>>,
        run: run_plan::<balance::BalanceNode<balance::consistent_hash::ConsistentHash>>,
        picture: picture_plan::<balance::BalanceNode<balance::consistent_hash::ConsistentHash>>,
    },
    Algorithm {
        name: "rpc.at-least-once",
        family: "rpc",
        summary: "a client calls a calculator through a registry; a retry is a fresh execution (duplicates possible)",
        commands: rpc::COMMANDS,
        message_kinds: rpc::KINDS,
        checks: crate::check::rpc::CHECKS,
        params: rpc::PARAMS,
        validate_params: validate_params::<rpc::at_least_once::AtLeastOnceNode>,
        run: run_plan::<rpc::at_least_once::AtLeastOnceNode>,
        picture: picture_plan::<rpc::at_least_once::AtLeastOnceNode>,
    },
    Algorithm {
        name: "rpc.at-most-once",
        family: "rpc",
        summary: "request ids and a server-side reply cache: no duplicate execution while the server stays up",
        commands: rpc::COMMANDS,
        message_kinds: rpc::KINDS,
        checks: crate::check::rpc::CHECKS_AT_MOST_ONCE,
        params: rpc::PARAMS,
        validate_params: validate_params::<rpc::at_most_once::AtMostOnceNode>,
        run: run_plan::<rpc::at_most_once::AtMostOnceNode>,
        picture: picture_plan::<rpc::at_most_once::AtMostOnceNode>,
    },
];

/// The algorithm called `name`.
pub fn find(name: &str) -> Option<&'static Algorithm> {
    ALGORITHMS.iter().find(|a| a.name == name)
}
