//! The group-communication lab's UDP multicast chat: a [`Sender`] that sends
//! each message as one plain UTF-8 datagram to a group and port, and a
//! [`Listener`] that joins the group and hands back each [`Datagram`] with the
//! line the seed's Python server prints for it
//! (`Received message from ('127.0.0.1', 54321): hello`).
//!
//! The seed uses group 224.3.29.71, port 10000 and TTL 1 ([`SEED_GROUP`],
//! [`SEED_PORT`], [`SEED_TTL`]). Unlike the seed, which lets the kernel pick
//! the interface, both ends here are pinned to one interface — 127.0.0.1 unless
//! the caller names another: the sender sets `IP_MULTICAST_IF` to it and
//! enables `IP_MULTICAST_LOOP`, the listener joins the group on it
//! (`IP_ADD_MEMBERSHIP`) and binds the group address itself, so it receives
//! only that group's datagrams. `SO_REUSEADDR` (and `SO_REUSEPORT` where the
//! system has it) lets several listeners share one port, as group members do.
//!
//! A datagram is never decoded strictly: bytes that are not UTF-8 are shown as
//! U+FFFD, so a stray datagram cannot stop a listener.

use std::borrow::Cow;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use thiserror::Error;

/// The seed's group address.
pub const SEED_GROUP: Ipv4Addr = Ipv4Addr::new(224, 3, 29, 71);
/// The seed's port.
pub const SEED_PORT: u16 = 10000;
/// The seed's time-to-live: datagrams do not cross a router.
pub const SEED_TTL: u32 = 1;
/// The interface both ends use unless told otherwise.
pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// The largest payload of one UDP datagram over IPv4 (65535 − 20 − 8).
pub const MAX_DATAGRAM: usize = 65_507;

/// What went wrong, with the group, port and interface involved.
#[derive(Debug, Error)]
pub enum MulticastError {
    #[error(
        "{found:?} is not a multicast group address: expected an IPv4 address from 224.0.0.0 to 239.255.255.255, such as 224.3.29.71 (the seed's group) or 239.255.0.1"
    )]
    NotMulticast { found: String },
    #[error("{found:?} cannot be an interface: expected the IPv4 address of one of this machine's interfaces, such as 127.0.0.1")]
    BadInterface { found: String },
    #[error("message is {len} bytes; one UDP datagram over IPv4 carries at most {MAX_DATAGRAM} bytes")]
    TooLong { len: usize },
    #[error("TTL {ttl} is out of range: expected 0 to 255")]
    BadTtl { ttl: u32 },
    #[error("cannot {action} (group {group}, port {port}, interface {interface}): {source}{hint}", hint = hint(.source, .action))]
    Socket {
        action: &'static str,
        group: Ipv4Addr,
        port: u16,
        interface: Ipv4Addr,
        #[source]
        source: io::Error,
    },
    #[error("cannot send to {to}: {source}")]
    Send {
        to: SocketAddrV4,
        #[source]
        source: io::Error,
    },
    #[error("cannot receive on {group}:{port}: {source}")]
    Receive {
        group: Ipv4Addr,
        port: u16,
        #[source]
        source: io::Error,
    },
}

fn hint(e: &io::Error, action: &str) -> &'static str {
    match e.kind() {
        io::ErrorKind::AddrInUse => {
            " (another program holds the port without SO_REUSEADDR — the seed's Python server does not set it; stop it or use another --port)"
        }
        io::ErrorKind::AddrNotAvailable if action != "bind the port" => {
            " (is the interface the address of one of this machine's interfaces?)"
        }
        // ENODEV: no interface has that address.
        _ if cfg!(target_os = "linux") && e.raw_os_error() == Some(19) => {
            " (is the interface the address of one of this machine's interfaces?)"
        }
        _ => "",
    }
}

/// Parses a group address: an IPv4 multicast address (224.0.0.0/4).
pub fn parse_group(text: &str) -> Result<Ipv4Addr, MulticastError> {
    match text.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) if a.is_multicast() => Ok(a),
        _ => Err(MulticastError::NotMulticast { found: text.to_string() }),
    }
}

/// Parses an interface address: an IPv4 address that is not a multicast or
/// broadcast address (0.0.0.0 is accepted: it lets the kernel choose).
pub fn parse_interface(text: &str) -> Result<Ipv4Addr, MulticastError> {
    match text.trim().parse::<Ipv4Addr>() {
        Ok(a) if !a.is_multicast() && !a.is_broadcast() => Ok(a),
        _ => Err(MulticastError::BadInterface { found: text.to_string() }),
    }
}

/// Where a chat happens: a group, a port and the local interface used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    pub group: Ipv4Addr,
    pub port: u16,
    /// The local interface (by its address) to send from and join on.
    pub interface: Ipv4Addr,
}

impl Default for Channel {
    /// The seed's group and port, on 127.0.0.1.
    fn default() -> Channel {
        Channel { group: SEED_GROUP, port: SEED_PORT, interface: LOOPBACK }
    }
}

impl Channel {
    fn check(&self) -> Result<(), MulticastError> {
        if !self.group.is_multicast() {
            return Err(MulticastError::NotMulticast { found: self.group.to_string() });
        }
        if self.interface.is_multicast() || self.interface.is_broadcast() {
            return Err(MulticastError::BadInterface { found: self.interface.to_string() });
        }
        Ok(())
    }

    fn fail(&self, action: &'static str) -> impl FnOnce(io::Error) -> MulticastError + '_ {
        move |source| MulticastError::Socket { action, group: self.group, port: self.port, interface: self.interface, source }
    }
}

/// A member of the group that receives its datagrams.
pub struct Listener {
    socket: UdpSocket,
    channel: Channel,
}

impl Listener {
    /// Binds the group's port (shared with other listeners) and joins the
    /// group on the channel's interface. Port 0 lets the kernel pick one
    /// ([`Listener::port`] tells which).
    pub fn join(channel: Channel) -> Result<Listener, MulticastError> {
        channel.check()?;
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(channel.fail("open a UDP socket"))?;
        socket.set_reuse_address(true).map_err(channel.fail("set SO_REUSEADDR"))?;
        #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))))]
        socket.set_reuse_port(true).map_err(channel.fail("set SO_REUSEPORT"))?;
        // Binding the group address (not 0.0.0.0) receives only this group's
        // datagrams and nothing sent to the port of any other address.
        // Windows cannot bind a multicast address.
        let bind_ip = if cfg!(windows) { Ipv4Addr::UNSPECIFIED } else { channel.group };
        socket.bind(&SockAddr::from(SocketAddrV4::new(bind_ip, channel.port))).map_err(channel.fail("bind the port"))?;
        socket.join_multicast_v4(&channel.group, &channel.interface).map_err(channel.fail("join the group"))?;
        let socket: UdpSocket = socket.into();
        let port = socket.local_addr().map_err(channel.fail("read the bound port"))?.port();
        Ok(Listener { socket, channel: Channel { port, ..channel } })
    }

    /// The port bound (the kernel's choice when asked for port 0).
    pub fn port(&self) -> u16 {
        self.channel.port
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Waits for the next datagram; `None` when `timeout` passes first
    /// (`None` for the timeout waits for ever).
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Option<Datagram>, MulticastError> {
        let fail = |source| MulticastError::Receive { group: self.channel.group, port: self.channel.port, source };
        // A zero duration means "no timeout" to the socket; avoid it.
        self.socket.set_read_timeout(timeout.map(|t| t.max(Duration::from_millis(1)))).map_err(fail)?;
        let mut buf = vec![0u8; 65_536];
        loop {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => return Ok(Some(Datagram { from, data: buf[..n].to_vec() })),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail(e)),
            }
        }
    }
}

/// One datagram received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub from: SocketAddr,
    pub data: Vec<u8>,
}

impl Datagram {
    /// The payload as text; bytes that are not UTF-8 become U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.data)
    }

    /// What the seed's server prints for it:
    /// `Received message from ('127.0.0.1', 54321): hello`.
    pub fn seed_line(&self) -> String {
        format!("Received message from {}: {}", python_address(&self.from), self.text())
    }
}

/// A socket address as Python prints the tuple `recvfrom` returns:
/// `('127.0.0.1', 54321)` (IPv6: `('::1', 54321, 0, 0)`).
pub fn python_address(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("('{}', {})", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("('{}', {}, {}, {})", a.ip(), a.port(), a.flowinfo(), a.scope_id()),
    }
}

/// Sends datagrams to the group from the channel's interface.
pub struct Sender {
    socket: UdpSocket,
    to: SocketAddrV4,
}

impl Sender {
    /// A socket bound to the interface's address (port chosen by the kernel),
    /// sending to the group through that interface with the given TTL, with
    /// loopback on so that listeners on this machine receive too.
    pub fn open(channel: Channel, ttl: u32) -> Result<Sender, MulticastError> {
        channel.check()?;
        if ttl > 255 {
            return Err(MulticastError::BadTtl { ttl });
        }
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(channel.fail("open a UDP socket"))?;
        socket.set_multicast_if_v4(&channel.interface).map_err(channel.fail("set the outgoing interface (IP_MULTICAST_IF)"))?;
        socket.set_multicast_loop_v4(true).map_err(channel.fail("set IP_MULTICAST_LOOP"))?;
        socket.set_multicast_ttl_v4(ttl).map_err(channel.fail("set the TTL"))?;
        socket.bind(&SockAddr::from(SocketAddrV4::new(channel.interface, 0))).map_err(channel.fail("bind a sending port"))?;
        Ok(Sender { socket: socket.into(), to: SocketAddrV4::new(channel.group, channel.port) })
    }

    /// The address datagrams come from (what a listener prints).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The group and port datagrams go to.
    pub fn destination(&self) -> SocketAddrV4 {
        self.to
    }

    /// Sends one datagram; longer than [`MAX_DATAGRAM`] is an error.
    pub fn send(&self, payload: &[u8]) -> Result<(), MulticastError> {
        check_len(payload)?;
        self.socket.send_to(payload, self.to).map(|_| ()).map_err(|source| MulticastError::Send { to: self.to, source })
    }
}

/// Whether `payload` fits in one datagram.
pub fn check_len(payload: &[u8]) -> Result<(), MulticastError> {
    if payload.len() > MAX_DATAGRAM { Err(MulticastError::TooLong { len: payload.len() }) } else { Ok(()) }
}

/// Whether a typed line ends the seed's client loop (`exit`, any case).
pub fn is_exit(line: &str) -> bool {
    line.eq_ignore_ascii_case("exit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_as_python_tuples() {
        assert_eq!(python_address(&"127.0.0.1:54321".parse().unwrap()), "('127.0.0.1', 54321)");
        assert_eq!(python_address(&"[::1]:5".parse().unwrap()), "('::1', 5, 0, 0)");
    }

    #[test]
    fn groups_must_be_multicast() {
        assert_eq!(parse_group("224.3.29.71").unwrap(), SEED_GROUP);
        assert_eq!(parse_group("239.255.1.2").unwrap(), Ipv4Addr::new(239, 255, 1, 2));
        for bad in ["10.0.0.1", "127.0.0.1", "ff02::1", "224.3.29", "group"] {
            let e = parse_group(bad).unwrap_err().to_string();
            assert!(e.contains("not a multicast group address") && e.contains(bad), "{e}");
        }
        assert!(parse_interface("224.0.0.1").is_err());
        assert_eq!(parse_interface("127.0.0.1").unwrap(), LOOPBACK);
    }

    #[test]
    fn lossy_text_and_limits() {
        let d = Datagram { from: "127.0.0.1:9".parse().unwrap(), data: b"hi \xff".to_vec() };
        assert_eq!(d.seed_line(), "Received message from ('127.0.0.1', 9): hi \u{fffd}");
        assert!(check_len(&vec![b'x'; MAX_DATAGRAM]).is_ok());
        assert!(check_len(&vec![b'x'; MAX_DATAGRAM + 1]).unwrap_err().to_string().contains("at most 65507 bytes"));
        assert!(is_exit("exit") && is_exit("EXIT") && !is_exit("exit ") && !is_exit("quit"));
    }
}
