//! `distlab node`: one node of a live cluster. `distlab cluster` starts these;
//! they speak JSON lines with it on stdin/stdout (see distlab::live::record).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use distlab::live::NodeOptions;
use distlab::transport::{DEFAULT_GROUP, TransportKind, TransportOptions};

use crate::Outcome;

#[derive(Args, Debug)]
pub struct NodeArgs {
    /// The scenario (.yaml).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Which node of the scenario to be.
    #[arg(long)]
    pub id: u32,
    #[arg(long, value_enum, default_value_t = TransportKind::Udp)]
    pub transport: TransportKind,
    /// The address to bind.
    #[arg(long, default_value_t = Ipv4Addr::LOCALHOST)]
    pub bind: Ipv4Addr,
    /// The cluster's id (frames of other runs are skipped).
    #[arg(long, default_value_t = 0)]
    pub run_id: u64,
    /// How long the run lasts, in ns from the common start.
    #[arg(long, default_value_t = 10_000_000_000)]
    pub duration_ns: u64,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, default_value_t = DEFAULT_GROUP)]
    pub group: Ipv4Addr,
    /// The multicast interface; default: the bound address.
    #[arg(long, value_parser = super::wire::parse_interface)]
    pub interface: Option<Ipv4Addr>,
    #[arg(long, default_value_t = 0)]
    pub ttl: u32,
    #[arg(long, default_value_t = 0)]
    pub group_port: u16,
}

pub fn run(args: NodeArgs) -> anyhow::Result<Outcome> {
    let mut plan = match distlab::scenario::load(&args.file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(Outcome::BadInput);
        }
    };
    if let Some(s) = args.seed {
        plan.seed = s;
    }
    // Unless the user named an interface, a node sends multicast by and joins
    // the group on its own address (the one it binds; 127.0.0.1 by default).
    let interface = args.interface.unwrap_or(if args.bind.is_loopback() { Ipv4Addr::LOCALHOST } else { args.bind });
    let opts = NodeOptions {
        transport: args.transport,
        bind: args.bind,
        wire: TransportOptions { group: args.group, interface, ttl: args.ttl, timeout: Duration::from_secs(5) },
        group_port: args.group_port,
        run: args.run_id,
        duration: args.duration_ns,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let control = Box::new(std::io::BufReader::new(std::io::stdin()));
    match (plan.algorithm.live.node)(&plan, args.id, &opts, control, &mut out) {
        Ok(()) => Ok(Outcome::Ok),
        Err(e) => {
            eprintln!("distlab node {}: {e}", args.id);
            Ok(Outcome::Failed)
        }
    }
}
