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
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_timeout)]
    pub wire_timeout: Dur,
}

/// Where multicast goes: shared by `run`, `test` and `cluster`.
#[derive(Args, Debug, Clone)]
pub struct MulticastFlags {
    /// Multicast: the group broadcasts go to.
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_GROUP)]
    pub group: Ipv4Addr,
    /// Multicast: the interface to send by and join the group on, by its
    /// address. Loopback (127.0.0.1) unless you name another one.
    #[arg(long, value_name = "ADDR", value_parser = parse_interface)]
    pub interface: Option<Ipv4Addr>,
    /// Multicast: the TTL (0 keeps datagrams on this host).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=255))]
    pub ttl: u32,
}

/// An interface named by one of its unicast addresses: 0.0.0.0 would let the
/// kernel choose (and multicast could leave by the default route).
pub fn parse_interface(text: &str) -> Result<Ipv4Addr, String> {
    let a: Ipv4Addr = text.parse().map_err(|e| format!("{e}"))?;
    if a.is_unspecified() || a.is_multicast() || a.is_broadcast() {
        return Err(format!("{a} names no interface: give the address of one (127.0.0.1 by default)"));
    }
    Ok(a)
}

fn parse_timeout(text: &str) -> Result<Dur, String> {
    let d = Dur::parse(text)?;
    if d.0 == 0 {
        return Err("a timeout of 0 would fail every frame: give a positive duration, e.g. 5s".into());
    }
    Ok(d)
}

impl WireArgs {
    /// Applies the flags to a loaded plan.
    pub fn apply(&self, plan: &mut Plan) {
        if let Some(t) = self.transport {
            plan.transport = t;
        }
        plan.wire.group = self.multicast.group;
        plan.wire.interface = self.multicast.interface.unwrap_or(Ipv4Addr::LOCALHOST);
        plan.wire.ttl = self.multicast.ttl;
        plan.wire.timeout = Duration::from_nanos(self.wire_timeout.0);
    }
}
