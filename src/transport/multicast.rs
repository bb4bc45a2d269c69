//! The multicast transport: a message to one node is a UDP datagram between
//! the nodes' unicast sockets (as in [`super::udp`]); a broadcast is **one**
//! datagram to a multicast group that every member's group socket receives.
//!
//! Safety: every socket sends multicast by the configured interface
//! (IP_MULTICAST_IF, 127.0.0.1 by default) with the configured TTL (0 by
//! default: the datagram never leaves the host), and joins the group on that
//! same interface. Another interface is used only when the user names it.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

use super::frame::HEADER_LEN;
use super::udp::{Endpoints, MAX_DATAGRAM};
use super::{Carrier, TransportError, TransportKind, TransportOptions, WireStats};

/// More group sockets than this would exhaust file descriptors long before
/// the run is interesting; the error says so instead.
pub const MAX_MEMBERS: usize = 4096;

/// A port on `group` that no socket holds right now. A socket with
/// SO_REUSEADDR that binds port 0 may be handed a port another run's reuse
/// sockets already share; a probe without it gets a port nobody holds, which
/// the members then bind together.
pub fn free_group_port(group: Ipv4Addr) -> std::io::Result<u16> {
    let probe = UdpSocket::bind(SocketAddrV4::new(group, 0))?;
    Ok(probe.local_addr()?.port())
}

pub struct MulticastCarrier {
    ep: Endpoints,
    group: Ipv4Addr,
    interface: Ipv4Addr,
    /// One socket per member bound to the group's address and port, opened on
    /// the first broadcast (all at once: every member must hear it).
    members: Vec<UdpSocket>,
    port: u16,
    n: usize,
}

impl MulticastCarrier {
    pub fn new(n: usize, opts: &TransportOptions) -> Result<Self, TransportError> {
        if !opts.group.is_multicast() {
            return Err(TransportError::Setup(format!("multicast: {} is not a multicast group (224.0.0.0/4)", opts.group)));
        }
        let mut ep = Endpoints::new("multicast", n, opts);
        ep.multicast = Some((opts.interface, opts.ttl));
        Ok(MulticastCarrier { ep, group: opts.group, interface: opts.interface, members: Vec::new(), port: 0, n })
    }

    fn member_socket(&self, port: u16) -> Result<UdpSocket, TransportError> {
        let what = |w: &str| format!("{w} (group {}, port {port}, interface {})", self.group, self.interface);
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| TransportError::io("multicast", what("open a socket"), e))?;
        s.set_reuse_address(true).map_err(|e| TransportError::io("multicast", what("share the group port"), e))?;
        s.bind(&SocketAddrV4::new(self.group, port).into()).map_err(|e| TransportError::io("multicast", what("bind to the group"), e))?;
        s.join_multicast_v4(&self.group, &self.interface).map_err(|e| TransportError::io("multicast", what("join the group"), e))?;
        s.set_multicast_if_v4(&self.interface).map_err(|e| TransportError::io("multicast", what("set the outgoing interface"), e))?;
        s.set_multicast_ttl_v4(self.ep.multicast.map_or(0, |(_, t)| t))
            .map_err(|e| TransportError::io("multicast", what("set the TTL"), e))?;
        s.set_read_timeout(Some(self.ep.timeout)).map_err(|e| TransportError::io("multicast", what("set a read timeout"), e))?;
        Ok(s.into())
    }

    fn open_group(&mut self) -> Result<(), TransportError> {
        if !self.members.is_empty() {
            return Ok(());
        }
        if self.n > MAX_MEMBERS {
            return Err(TransportError::Setup(format!(
                "multicast: {} nodes would need {} group sockets; the transport supports at most {MAX_MEMBERS}",
                self.n, self.n
            )));
        }
        self.port =
            free_group_port(self.group).map_err(|e| TransportError::io("multicast", format!("find a free port on {}", self.group), e))?;
        for _ in 0..self.n {
            let s = self.member_socket(self.port)?;
            self.members.push(s);
        }
        Ok(())
    }

    /// The group and port broadcasts go to (after the first broadcast).
    pub fn group_addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.group, self.port)
    }
}

impl Carrier for MulticastCarrier {
    fn kind(&self) -> TransportKind {
        TransportKind::Multicast
    }

    fn max_payload(&self) -> usize {
        MAX_DATAGRAM - HEADER_LEN
    }

    fn carry(&mut self, from: u32, to: u32, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.ep.carry(from, to, payload)
    }

    fn carry_group(&mut self, from: u32, payload: &[u8]) -> Result<Option<Vec<Option<Vec<u8>>>>, TransportError> {
        self.open_group()?;
        self.ep.open(from)?;
        // `to` = u32::MAX marks a group frame.
        let want = self.ep.frame(from, u32::MAX, payload, MAX_DATAGRAM - HEADER_LEN)?;
        let dest = self.group_addr();
        let sender = self.ep.sockets[from as usize].as_ref().expect("opened");
        sender.send_to(&self.ep.frame, dest).map_err(|e| TransportError::io("multicast", format!("send a datagram to {dest}"), e))?;
        let mut copies = Vec::with_capacity(self.n);
        // One deadline for the whole group, not one per member.
        let deadline = std::time::Instant::now() + self.ep.timeout;
        for (j, member) in self.members.iter().enumerate() {
            // Every member hears it, the sender too (loopback); the sender's
            // copy is read only to keep its socket's buffer empty.
            let got = Endpoints::await_frame("multicast", member, &mut self.ep.buf, &mut self.ep.stats, want, deadline, self.ep.timeout)?;
            copies.push(if j == from as usize { None } else { Some(got) });
        }
        Ok(Some(copies))
    }

    fn stats(&self) -> WireStats {
        self.ep.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_datagram_reaches_every_member() {
        let mut c = MulticastCarrier::new(4, &TransportOptions::default()).unwrap();
        let copies = c.carry_group(1, b"{\"Coordinator\":4}").unwrap().unwrap();
        assert_eq!(copies.len(), 4);
        assert!(copies[1].is_none());
        for j in [0, 2, 3] {
            assert_eq!(copies[j].as_deref(), Some(&b"{\"Coordinator\":4}"[..]));
        }
        assert_eq!(c.stats().frames, 1);
        // Unicast still works alongside.
        assert_eq!(c.carry(3, 0, b"{}").unwrap(), b"{}");
    }

    #[test]
    fn a_unicast_group_is_refused() {
        let opts = TransportOptions { group: Ipv4Addr::new(127, 0, 0, 1), ..TransportOptions::default() };
        let e = MulticastCarrier::new(2, &opts).err().unwrap().to_string();
        assert!(e.contains("not a multicast group"), "{e}");
    }
}
