//! Real transports for the runner, in lockstep.
//!
//! The runner keeps deciding *when* a message arrives (latency, loss,
//! partitions stay simulated and seeded); a transport decides *how* it gets
//! there: the message is encoded ([`codec`]), written to the sender's real
//! endpoint (a UDP socket, a TCP connection, a multicast group, an inbox
//! file), read at the receiver's endpoint and decoded before the runner queues
//! it. The trace therefore stays byte-identical to the simulated run, which
//! the tests check over the whole `scenarios/` tree, while every message has
//! really crossed the kernel.
//!
//! A [`Carrier`] moves byte payloads; framing (the [`frame`] header that lets a
//! receiver skip foreign or stale datagrams) is its business, encoding the
//! runner's.

pub mod bench;
pub mod codec;
pub mod file;
pub mod frame;
pub mod multicast;
pub mod tcp;
pub mod udp;

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Which transport carries the messages of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// In memory: the message never leaves the process (the default).
    #[default]
    Sim,
    /// One UDP socket per node on 127.0.0.1, kernel-chosen port.
    Udp,
    /// One TCP listener per node on 127.0.0.1; connections opened lazily,
    /// length-prefixed frames.
    Tcp,
    /// UDP unicast for sends, one datagram to a multicast group for broadcasts
    /// (interface 127.0.0.1, TTL 0 unless told otherwise).
    Multicast,
    /// An inbox file per node in a temporary directory: senders append a line,
    /// the receiver reads new lines.
    File,
}

impl TransportKind {
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Sim => "sim",
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
            TransportKind::Multicast => "multicast",
            TransportKind::File => "file",
        }
    }

    pub const REAL: [TransportKind; 4] = [TransportKind::Udp, TransportKind::Tcp, TransportKind::Multicast, TransportKind::File];
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings of the real transports that do not belong in a scenario.
#[derive(Clone, Copy, Debug)]
pub struct TransportOptions {
    /// The multicast group broadcasts go to.
    pub group: Ipv4Addr,
    /// The interface multicast leaves by and the group is joined on. Loopback
    /// unless the user names another one.
    pub interface: Ipv4Addr,
    /// Multicast TTL: 0 keeps datagrams on this host.
    pub ttl: u32,
    /// How long a receiver waits for a frame before the run fails.
    pub timeout: Duration,
}

/// The group broadcasts go to by default: administratively scoped (RFC 2365),
/// never routed off site, and with TTL 0 never off this host.
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 29, 71);

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions { group: DEFAULT_GROUP, interface: Ipv4Addr::LOCALHOST, ttl: 0, timeout: Duration::from_secs(5) }
    }
}

/// Why a transport could not carry a message.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{transport}: cannot {what}: {source}")]
    Io {
        transport: &'static str,
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{transport}: the frame from node index {from} to node index {to} did not arrive within {waited:?}")]
    Timeout { transport: &'static str, from: u32, to: u32, waited: Duration },
    #[error("{transport}: a message of {size} bytes does not fit: the limit is {limit} bytes")]
    Oversize { transport: &'static str, size: usize, limit: usize },
    #[error("{0}")]
    Setup(String),
}

impl TransportError {
    pub(crate) fn io(transport: &'static str, what: impl Into<String>, source: io::Error) -> Self {
        let what = what.into();
        let hint = if source.raw_os_error() == Some(24) { " (too many open files: raise `ulimit -n`)" } else { "" };
        TransportError::Io { transport, what: format!("{what}{hint}"), source }
    }
}

/// What a transport has done, for the benchmark and the CLI (not the trace:
/// the trace must not depend on the transport).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct WireStats {
    /// Frames written (a multicast broadcast counts once).
    pub frames: u64,
    /// Payload bytes written.
    pub bytes: u64,
    /// Frames read that were not ours or not the one awaited, and skipped.
    pub foreign: u64,
}

/// Moves payloads between the endpoints of the nodes (by dense index).
pub trait Carrier {
    fn kind(&self) -> TransportKind;

    /// The largest payload one frame can hold.
    fn max_payload(&self) -> usize;

    /// Writes `payload` from `from`'s endpoint to `to`'s, reads it there and
    /// returns what was read.
    fn carry(&mut self, from: u32, to: u32, payload: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// Sends `payload` once to every member but `from` (a multicast group) and
    /// returns what each read, by index (`None` at `from`). `Ok(None)` when the
    /// transport has no group send; the runner then carries one copy per receiver.
    fn carry_group(&mut self, _from: u32, _payload: &[u8]) -> Result<Option<Vec<Option<Vec<u8>>>>, TransportError> {
        Ok(None)
    }

    fn stats(&self) -> WireStats;
}

/// Opens the carrier for `kind` over `n` nodes; `None` for the simulated network.
pub fn open(kind: TransportKind, n: usize, opts: &TransportOptions) -> Result<Option<Box<dyn Carrier>>, TransportError> {
    Ok(match kind {
        TransportKind::Sim => None,
        TransportKind::Udp => Some(Box::new(udp::UdpCarrier::new(n, opts)?)),
        TransportKind::Tcp => Some(Box::new(tcp::TcpCarrier::new(n, opts)?)),
        TransportKind::Multicast => Some(Box::new(multicast::MulticastCarrier::new(n, opts)?)),
        TransportKind::File => Some(Box::new(file::FileCarrier::new(n, opts)?)),
    })
}
