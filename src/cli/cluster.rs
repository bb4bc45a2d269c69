//! `distlab cluster`: run a scenario as real OS processes, one per node, over
//! real sockets; print the merged trace and the checks.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use distlab::live::cluster::{ClusterOptions, run_cluster};
use distlab::live::{DEFAULT_SETTLE, LiveError};
use distlab::scenario::units::Dur;
use distlab::transport::{TransportKind, TransportOptions};

use crate::Outcome;

/// The transports a live cluster can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LiveTransport {
    /// One UDP socket per node.
    Udp,
    /// One listener per node; a connection per peer, length-prefixed frames.
    Tcp,
    /// UDP, and one datagram to a multicast group per broadcast.
    Multicast,
}

impl From<LiveTransport> for TransportKind {
    fn from(t: LiveTransport) -> TransportKind {
        match t {
            LiveTransport::Udp => TransportKind::Udp,
            LiveTransport::Tcp => TransportKind::Tcp,
            LiveTransport::Multicast => TransportKind::Multicast,
        }
    }
}

pub const CLUSTER_ABOUT: &str = "\
Run a scenario live: one OS process per node, real sockets and timers.

Starts one `distlab node` process per node of the scenario, on real sockets
bound to 127.0.0.1, with real timers; the timeline runs on the wall clock from
a common start. Each node applies the scenario's network model (latency, loss,
duplication, partitions) to what it receives. The parent merges the nodes'
traces by time, prints them in the usual columns, and runs the algorithm's
checks and the scenario's expect: block. No snapshot comparison: real timing
is not deterministic.

The run lasts until the scenario's `until`, or its last timeline step plus
--settle. Every wait has a deadline; children are reaped on every exit path,
Ctrl-C included.

Examples:
  distlab cluster scenarios/election/seed-ring.yaml
  distlab cluster scenarios/mutex/ricart-agrawala-concurrent.yaml --transport tcp
  distlab cluster scenarios/election/bully-seed.yaml --transport multicast --quiet
  sudo scripts/netns-cluster.sh scenarios/election/seed-ring.yaml   (one namespace per node)";

#[derive(Args, Debug)]
pub struct ClusterArgs {
    /// The scenario (.yaml).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t = LiveTransport::Udp)]
    pub transport: LiveTransport,
    /// Use this seed instead of the scenario's (network draws, node generators).
    #[arg(long)]
    pub seed: Option<u64>,
    /// How long to run after the last timeline step when the scenario sets no `until`.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = Dur::parse)]
    pub settle: Dur,
    /// Run exactly this long (overrides `until` and --settle).
    #[arg(long, value_name = "DURATION", value_parser = Dur::parse)]
    pub duration: Option<Dur>,
    /// Print the summary and checks only.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub multicast: super::wire::MulticastFlags,
    /// Prefix each node's command with this ({id}, {index} replaced), e.g.
    /// "ip netns exec dl{index}".
    #[arg(long, value_name = "COMMAND")]
    pub wrap: Option<String>,
    /// The address each node binds ({id}, {index} replaced); default 127.0.0.1.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Keep each node's records as DIR/node-<id>.jsonl.
    #[arg(long, value_name = "DIR")]
    pub trace_dir: Option<PathBuf>,
    /// End the run once the timeline is over and no node has reported an
    /// event for this long (for benchmarks: the work is done), e.g. 300ms.
    #[arg(long, value_name = "DURATION", value_parser = Dur::parse)]
    pub stop_when_idle: Option<Dur>,
    /// Print the scenario's node ids, one per line, and exit (for scripts).
    #[arg(long)]
    pub print_ids: bool,
    /// How long nodes may take to start and report their addresses.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = Dur::parse)]
    pub startup_timeout: Dur,
}

pub fn run(args: ClusterArgs) -> anyhow::Result<Outcome> {
    let mut plan = match distlab::scenario::load(&args.file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(Outcome::BadInput);
        }
    };
    if args.print_ids {
        for id in &plan.nodes {
            println!("{id}");
        }
        return Ok(Outcome::Ok);
    }
    let opts = ClusterOptions {
        transport: args.transport.into(),
        wire: TransportOptions {
            group: args.multicast.group,
            interface: args.multicast.interface.unwrap_or(std::net::Ipv4Addr::LOCALHOST),
            ttl: args.multicast.ttl,
            ..TransportOptions::default()
        },
        settle: if args.settle.0 == 0 { DEFAULT_SETTLE } else { args.settle.0 },
        duration: args.duration.map(|d| d.0),
        wrap: args.wrap,
        bind: args.bind,
        quiet: args.quiet,
        exe: std::env::current_exe()?,
        file: args.file.clone(),
        seed: args.seed,
        startup_timeout: Duration::from_nanos(args.startup_timeout.0),
        trace_dir: args.trace_dir,
        interface: args.multicast.interface,
        stop_when_idle: args.stop_when_idle.map(|d| Duration::from_nanos(d.0)),
    };
    if let Some(s) = args.seed {
        plan.seed = s;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run_cluster(&plan, &opts, &mut out) {
        Ok(report) => Ok(if report.passed() { Outcome::Ok } else { Outcome::Failed }),
        Err(e @ LiveError::Setup(_)) => {
            eprintln!("distlab cluster: {}: {e}", args.file.display());
            Ok(Outcome::BadInput)
        }
        Err(e) => {
            eprintln!("distlab cluster: {}: {e}", args.file.display());
            Ok(Outcome::Failed)
        }
    }
}
