//! The UDP transport: one socket per node on 127.0.0.1 with a kernel-chosen
//! port, opened the first time the node sends or receives. A message is one
//! datagram (frame header + payload) from the sender's socket to the
//! receiver's, read there before the runner queues it.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::frame::{HEADER_LEN, Header, new_run_id};
use super::{Carrier, TransportError, TransportKind, TransportOptions, WireStats};

/// The largest UDP payload over IPv4 (65,535 − 8 UDP − 20 IP header bytes).
pub const MAX_DATAGRAM: usize = 65_507;

/// One socket per node, opened lazily, and the frame bookkeeping shared by
/// the UDP and multicast transports.
pub(crate) struct Endpoints {
    pub name: &'static str,
    pub sockets: Vec<Option<UdpSocket>>,
    pub addrs: Vec<Option<SocketAddr>>,
    pub run: u64,
    pub seq: u64,
    pub timeout: Duration,
    pub stats: WireStats,
    /// Multicast settings for every socket (outgoing interface and TTL), so
    /// that a group datagram can only leave by the named interface.
    pub multicast: Option<(Ipv4Addr, u32)>,
    pub frame: Vec<u8>,
    pub buf: Vec<u8>,
}

impl Endpoints {
    pub fn new(name: &'static str, n: usize, opts: &TransportOptions) -> Self {
        Endpoints {
            name,
            sockets: (0..n).map(|_| None).collect(),
            addrs: vec![None; n],
            run: new_run_id(),
            seq: 0,
            timeout: opts.timeout,
            stats: WireStats::default(),
            multicast: None,
            frame: Vec::new(),
            buf: vec![0; MAX_DATAGRAM + 1],
        }
    }

    pub fn open(&mut self, i: u32) -> Result<(), TransportError> {
        let i = i as usize;
        if self.sockets[i].is_some() {
            return Ok(());
        }
        let name = self.name;
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| TransportError::io(name, "bind a UDP socket on 127.0.0.1", e))?;
        s.set_read_timeout(Some(self.timeout)).map_err(|e| TransportError::io(name, "set a read timeout", e))?;
        if let Some((interface, ttl)) = self.multicast {
            s.set_multicast_ttl_v4(ttl).map_err(|e| TransportError::io(name, "set the multicast TTL", e))?;
            let s2 = socket2::SockRef::from(&s);
            s2.set_multicast_if_v4(&interface).map_err(|e| TransportError::io(name, format!("send multicast by {interface}"), e))?;
            s2.set_multicast_loop_v4(true).map_err(|e| TransportError::io(name, "loop multicast back to this host", e))?;
        }
        self.addrs[i] = Some(s.local_addr().map_err(|e| TransportError::io(name, "read a socket's address", e))?);
        self.sockets[i] = Some(s);
        Ok(())
    }

    /// Builds the next frame for `payload` in `self.frame` and returns its header.
    pub fn frame(&mut self, from: u32, to: u32, payload: &[u8], limit: usize) -> Result<Header, TransportError> {
        if payload.len() > limit {
            return Err(TransportError::Oversize { transport: self.name, size: payload.len(), limit });
        }
        self.seq += 1;
        let h = Header { run: self.run, seq: self.seq, from, to };
        self.frame.clear();
        h.write(&mut self.frame);
        self.frame.extend_from_slice(payload);
        self.stats.frames += 1;
        self.stats.bytes += payload.len() as u64;
        Ok(h)
    }

    /// Reads from `socket` until the frame `want` arrives, by `deadline`;
    /// skips and counts anything else. Returns the payload. `timeout` is the
    /// socket's usual read timeout: after a foreign datagram the wait is cut
    /// to what is left, then restored.
    pub fn await_frame(
        name: &'static str,
        socket: &UdpSocket,
        buf: &mut [u8],
        stats: &mut WireStats,
        want: Header,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        let mut shortened = false;
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(TransportError::Timeout { transport: name, from: want.from, to: want.to, waited: timeout });
            }
            if shortened {
                socket.set_read_timeout(Some(left)).map_err(|e| TransportError::io(name, "set a read timeout", e))?;
            }
            match socket.recv_from(buf) {
                Ok((len, _)) => match Header::parse(&buf[..len]) {
                    Some((h, payload)) if h == want => break Ok(payload.to_vec()),
                    _ => {
                        // Not ours: wait only for what is left from now on.
                        stats.foreign += 1;
                        shortened = true;
                    }
                },
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(TransportError::io(name, "receive a datagram", e)),
            }
        };
        if shortened {
            socket.set_read_timeout(Some(timeout)).map_err(|e| TransportError::io(name, "set a read timeout", e))?;
        }
        result
    }

    pub fn carry(&mut self, from: u32, to: u32, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.open(from)?;
        self.open(to)?;
        let want = self.frame(from, to, payload, MAX_DATAGRAM - HEADER_LEN)?;
        let name = self.name;
        let dest = self.addrs[to as usize].expect("opened");
        let sender = self.sockets[from as usize].as_ref().expect("opened");
        sender.send_to(&self.frame, dest).map_err(|e| TransportError::io(name, format!("send a datagram to {dest}"), e))?;
        let receiver = self.sockets[to as usize].as_ref().expect("opened");
        Self::await_frame(name, receiver, &mut self.buf, &mut self.stats, want, Instant::now() + self.timeout, self.timeout)
    }
}

pub struct UdpCarrier {
    ep: Endpoints,
}

impl UdpCarrier {
    pub fn new(n: usize, opts: &TransportOptions) -> Result<Self, TransportError> {
        Ok(UdpCarrier { ep: Endpoints::new("udp", n, opts) })
    }

    /// Node `i`'s address (opening its socket), for tests.
    pub fn addr(&mut self, i: u32) -> Result<SocketAddr, TransportError> {
        self.ep.open(i)?;
        Ok(self.ep.addrs[i as usize].expect("opened"))
    }
}

impl Carrier for UdpCarrier {
    fn kind(&self) -> TransportKind {
        TransportKind::Udp
    }

    fn max_payload(&self) -> usize {
        MAX_DATAGRAM - HEADER_LEN
    }

    fn carry(&mut self, from: u32, to: u32, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.ep.carry(from, to, payload)
    }

    fn stats(&self) -> WireStats {
        self.ep.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_and_skips_foreign_datagrams() {
        let mut c = UdpCarrier::new(3, &TransportOptions::default()).unwrap();
        assert_eq!(c.carry(0, 2, b"{\"Election\":3}").unwrap(), b"{\"Election\":3}");
        // A stray datagram (the seed's chat client, say) waits in node 2's socket.
        let addr = c.addr(2).unwrap();
        let stray = UdpSocket::bind("127.0.0.1:0").unwrap();
        stray.send_to(b"hello from a chat client", addr).unwrap();
        stray.send_to(b"DLW1 but not really a frame", addr).unwrap();
        assert_eq!(c.carry(1, 2, b"{}").unwrap(), b"{}");
        assert_eq!(c.stats().foreign, 2);
        assert_eq!(c.stats().frames, 2);
    }

    #[test]
    fn oversize_is_an_error() {
        let mut c = UdpCarrier::new(2, &TransportOptions::default()).unwrap();
        let big = vec![b'x'; 70_000];
        let e = c.carry(0, 1, &big).unwrap_err().to_string();
        assert!(e.contains("70000 bytes") && e.contains("65479"), "{e}");
    }
}
