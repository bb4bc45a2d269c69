//! The transport flags shared by `distlab run` and `distlab test`.

use std::net::Ipv4Addr;
use std::time::Duration;

use clap::Args;
use distlab::scenario::Plan;
use distlab::scenario::units::Dur;
use distlab::transport::{DEFAULT_GROUP, TransportKind};

#[derive(Args, Debug, Clone)]
pub struct WireArgs {
    /// Carry every message through a real transport on this machine, in
    /// lockstep (the trace stays the same): udp, tcp, multicast, file; or sim
    /// (in memory). Overrides the scenario's `transport:`.
    #[arg(long, value_enum, value_name = "KIND")]
    pub transport: Option<TransportKind>,
    #[command(flatten)]
    pub multicast: MulticastFlags,
    /// Real transports: how long a receiver waits for a frame before the run fails.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = Dur::parse)]
    pub wire_timeout: Dur,
}

/// Where multicast goes: shared by `run`, `test` and `cluster`.
#[derive(Args, Debug, Clone)]
pub struct MulticastFlags {
    /// Multicast: the group broadcasts go to.
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_GROUP)]
    pub group: Ipv4Addr,
    /// Multicast: the interface to send by and join the group on. Loopback
    /// unless you name another one.
    #[arg(long, value_name = "ADDR", default_value_t = Ipv4Addr::LOCALHOST)]
    pub interface: Ipv4Addr,
    /// Multicast: the TTL (0 keeps datagrams on this host).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=255))]
    pub ttl: u32,
}

impl WireArgs {
    /// Applies the flags to a loaded plan.
    pub fn apply(&self, plan: &mut Plan) {
        if let Some(t) = self.transport {
            plan.transport = t;
        }
        plan.wire.group = self.multicast.group;
        plan.wire.interface = self.multicast.interface;
        plan.wire.ttl = self.multicast.ttl;
        plan.wire.timeout = Duration::from_nanos(self.wire_timeout.0);
    }
}
