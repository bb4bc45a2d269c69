//! The TCP transport: one listener per node on 127.0.0.1 (kernel-chosen
//! port), and one connection per ordered pair of nodes that talk, opened the
//! first time the sender sends to that receiver. A frame is a 4-byte
//! big-endian length followed by the frame header and the payload; the first
//! frame on a new connection is a hello (header only) so that the receiver
//! knows which sender it accepted.
//!
//! The receiving end reads through a `BufReader`, so the length prefix and
//! the frame after it cost one `recvfrom`, not two (`strace -c`: one `sendto`
//! and one `recvfrom` per message, like the bare write/read loop).

use std::collections::BTreeMap;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::frame::{HEADER_LEN, Header, new_run_id};
use super::{Carrier, TransportError, TransportKind, TransportOptions, WireStats};

/// The largest frame accepted (16 MiB): a bigger length prefix is garbage.
pub const MAX_FRAME: usize = 16 << 20;

/// The largest payload in lockstep. One thread writes a frame and then reads
/// it, so a frame must fit in what the kernel buffers between the two ends
/// before anyone reads — on Linux's defaults about 80 KiB on loopback; the
/// UDP limit keeps every transport's limit the same. (Live nodes read in
/// their own threads and take frames up to [`MAX_FRAME`].)
pub const MAX_LOCKSTEP_PAYLOAD: usize = crate::transport::udp::MAX_DATAGRAM - HEADER_LEN;

pub struct TcpCarrier {
    listeners: Vec<Option<(TcpListener, SocketAddr)>>,
    /// (from, to) → (the sender's end, the receiver's end). The receiver's
    /// end is buffered: a frame's length and body come in one `read`.
    conns: BTreeMap<(u32, u32), (TcpStream, BufReader<TcpStream>)>,
    run: u64,
    seq: u64,
    timeout: Duration,
    stats: WireStats,
    frame: Vec<u8>,
}

/// The error of a failed `what`; a `&'static str` becomes a `String` only
/// when the error happens (these sit on the per-message path).
fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TransportError {
    move |e| TransportError::io("tcp", what, e)
}

impl TcpCarrier {
    pub fn new(n: usize, opts: &TransportOptions) -> Result<Self, TransportError> {
        Ok(TcpCarrier {
            listeners: (0..n).map(|_| None).collect(),
            conns: BTreeMap::new(),
            run: new_run_id(),
            seq: 0,
            timeout: opts.timeout,
            stats: WireStats::default(),
            frame: Vec::new(),
        })
    }

    fn listener(&mut self, i: u32) -> Result<SocketAddr, TransportError> {
        let slot = &mut self.listeners[i as usize];
        if let Some((_, addr)) = slot {
            return Ok(*addr);
        }
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("listen on 127.0.0.1"))?;
        let addr = l.local_addr().map_err(io("read a listener's address"))?;
        l.set_nonblocking(true).map_err(io("make a listener non-blocking"))?;
        *slot = Some((l, addr));
        Ok(addr)
    }

    fn write_frame(stream: &mut TcpStream, h: Header, payload: &[u8], buf: &mut Vec<u8>) -> std::io::Result<()> {
        buf.clear();
        buf.extend_from_slice(&((HEADER_LEN + payload.len()) as u32).to_be_bytes());
        h.write(buf);
        buf.extend_from_slice(payload);
        stream.write_all(buf)
    }

    fn read_frame(stream: &mut impl Read) -> Result<Vec<u8>, TransportError> {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).map_err(io("read a frame length"))?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME {
            return Err(TransportError::Oversize { transport: "tcp", size: len, limit: MAX_FRAME });
        }
        let mut body = vec![0; len];
        stream.read_exact(&mut body).map_err(io("read a frame"))?;
        Ok(body)
    }

    /// Opens the connection from → to: connect, accept it at the receiver's
    /// listener, and read the hello that names the sender.
    fn connect(&mut self, from: u32, to: u32) -> Result<(), TransportError> {
        if self.conns.contains_key(&(from, to)) {
            return Ok(());
        }
        let addr = self.listener(to)?;
        let mut out = TcpStream::connect_timeout(&addr, self.timeout).map_err(io(format!("connect to {addr}")))?;
        out.set_nodelay(true).map_err(io("set TCP_NODELAY"))?;
        // Never block for ever on a frame the kernel cannot take.
        out.set_write_timeout(Some(self.timeout)).map_err(io("set a write timeout"))?;
        let hello = Header { run: self.run, seq: 0, from, to };
        Self::write_frame(&mut out, hello, &[], &mut self.frame).map_err(io("send a hello"))?;
        let deadline = Instant::now() + self.timeout;
        let (listener, _) = self.listeners[to as usize].as_ref().expect("opened");
        loop {
            match listener.accept() {
                Ok((inc, peer)) => {
                    // Ours is the one whose far end is our outgoing socket: a
                    // stray connection is closed unread (it may never speak).
                    if out.local_addr().ok() != Some(peer) {
                        self.stats.foreign += 1;
                        continue;
                    }
                    inc.set_nonblocking(false).map_err(io("make a connection blocking"))?;
                    inc.set_read_timeout(Some(self.timeout)).map_err(io("set a read timeout"))?;
                    inc.set_nodelay(true).map_err(io("set TCP_NODELAY"))?;
                    let mut inc = BufReader::new(inc);
                    let ok = Self::read_frame(&mut inc).ok().and_then(|f| Header::parse(&f).map(|(h, _)| h)) == Some(hello);
                    if ok {
                        self.conns.insert((from, to), (out, inc));
                        return Ok(());
                    }
                    // Somebody else's connection: not ours, closed.
                    self.stats.foreign += 1;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_micros(50)),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(TransportError::io("tcp", format!("accept at {addr}"), e)),
            }
            if Instant::now() >= deadline {
                return Err(TransportError::Timeout { transport: "tcp", from, to, waited: self.timeout });
            }
        }
    }
}

impl Carrier for TcpCarrier {
    fn kind(&self) -> TransportKind {
        TransportKind::Tcp
    }

    fn max_payload(&self) -> usize {
        MAX_LOCKSTEP_PAYLOAD
    }

    fn carry(&mut self, from: u32, to: u32, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        if payload.len() > self.max_payload() {
            return Err(TransportError::Oversize { transport: "tcp", size: payload.len(), limit: self.max_payload() });
        }
        self.connect(from, to)?;
        self.seq += 1;
        let want = Header { run: self.run, seq: self.seq, from, to };
        let (out, inc) = self.conns.get_mut(&(from, to)).expect("connected");
        Self::write_frame(out, want, payload, &mut self.frame).map_err(io("send a frame"))?;
        self.stats.frames += 1;
        self.stats.bytes += payload.len() as u64;
        loop {
            let body = Self::read_frame(inc).map_err(|e| match e {
                TransportError::Io { source, .. } if matches!(source.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    TransportError::Timeout { transport: "tcp", from, to, waited: self.timeout }
                }
                e => e,
            })?;
            match Header::parse(&body) {
                Some((h, payload)) if h == want => return Ok(payload.to_vec()),
                _ => self.stats.foreign += 1,
            }
        }
    }

    fn stats(&self) -> WireStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_over_lazily_opened_connections() {
        let mut c = TcpCarrier::new(3, &TransportOptions::default()).unwrap();
        for k in 0..5u8 {
            let p = [b'0' + k; 3];
            assert_eq!(c.carry(0, 1, &p).unwrap(), p);
            assert_eq!(c.carry(1, 0, &p).unwrap(), p);
        }
        assert_eq!(c.conns.len(), 2);
        assert_eq!(c.stats().frames, 10);
        // An empty payload and a large one.
        assert_eq!(c.carry(2, 1, b"").unwrap(), b"");
        let big = vec![7u8; MAX_LOCKSTEP_PAYLOAD];
        assert_eq!(c.carry(2, 1, &big).unwrap(), big);
        let too_big = vec![7u8; MAX_LOCKSTEP_PAYLOAD + 1];
        assert!(c.carry(2, 1, &too_big).unwrap_err().to_string().contains("does not fit"));
    }

    #[test]
    fn a_foreign_connection_is_skipped() {
        let mut c = TcpCarrier::new(2, &TransportOptions::default()).unwrap();
        let addr = c.listener(1).unwrap();
        let mut stray = TcpStream::connect(addr).unwrap();
        stray.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(c.carry(0, 1, b"{}").unwrap(), b"{}");
        assert_eq!(c.stats().foreign, 1);
    }
}
