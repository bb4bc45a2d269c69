//! A live node's sockets: bound before the node reports ready, read by
//! background threads that hand every frame to the node's loop through one
//! channel, written by the loop itself.
//!
//! - `udp`: one socket; a message is one datagram.
//! - `tcp`: one listener; a connection per peer opened on the first send;
//!   4-byte big-endian length-prefixed frames.
//! - `multicast`: a unicast socket as for udp, plus a socket bound to the
//!   group's port and joined to the group on the configured interface
//!   (127.0.0.1 unless named); a broadcast is one datagram to the group, sent
//!   by the configured interface with the configured TTL (0 by default).

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::{LiveError, NodeOptions};
use crate::process::NodeId;
use crate::transport::TransportKind;
use crate::transport::tcp::MAX_FRAME;
use crate::transport::udp::MAX_DATAGRAM;

/// What the background threads hand to the node's loop.
pub enum Input {
    Frame(Vec<u8>),
    /// The parent closed our stdin, or a reader failed: stop.
    Stop(String),
}

/// How often a blocked reader looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

pub struct Endpoint {
    kind: TransportKind,
    udp: Option<UdpSocket>,
    addr: SocketAddr,
    group: Option<SocketAddrV4>,
    tcp_out: BTreeMap<NodeId, TcpStream>,
    connect_timeout: Duration,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

fn spawn_udp_reader(socket: UdpSocket, tx: Sender<Input>, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        while !stop.load(Ordering::Relaxed) {
            match socket.recv_from(&mut buf) {
                Ok((len, _)) => {
                    if tx.send(Input::Frame(buf[..len].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => {
                    let _ = tx.send(Input::Stop(format!("receiving failed: {e}")));
                    return;
                }
            }
        }
    })
}

fn spawn_tcp_reader(mut stream: TcpStream, tx: Sender<Input>, stop: Arc<AtomicBool>) {
    thread::spawn(move || {
        let _ = stream.set_read_timeout(Some(POLL));
        let mut read_exact = |buf: &mut [u8]| -> bool {
            let mut got = 0;
            while got < buf.len() {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                match stream.read(&mut buf[got..]) {
                    Ok(0) => return false,
                    Ok(k) => got += k,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                    Err(_) => return false,
                }
            }
            true
        };
        loop {
            let mut len = [0u8; 4];
            if !read_exact(&mut len) {
                return;
            }
            let len = u32::from_be_bytes(len) as usize;
            if len > MAX_FRAME {
                return; // Not one of ours: drop the connection.
            }
            let mut body = vec![0u8; len];
            if !read_exact(&mut body) || tx.send(Input::Frame(body)).is_err() {
                return;
            }
        }
    });
}

impl Endpoint {
    /// Binds the node's sockets and starts the readers.
    pub fn bind(opts: &NodeOptions, tx: Sender<Input>) -> Result<Endpoint, LiveError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let bind = opts.bind;
        let (udp, addr, group) = match opts.transport {
            TransportKind::Udp | TransportKind::Multicast => {
                let s = UdpSocket::bind((bind, 0)).map_err(LiveError::io(format!("bind a UDP socket on {bind}")))?;
                s.set_read_timeout(Some(POLL)).map_err(LiveError::io("set a read timeout"))?;
                let addr = s.local_addr().map_err(LiveError::io("read the socket's address"))?;
                let mut group = None;
                if opts.transport == TransportKind::Multicast {
                    let w = &opts.wire;
                    if !w.group.is_multicast() {
                        return Err(LiveError::Setup(format!("{} is not a multicast group (224.0.0.0/4)", w.group)));
                    }
                    let what = |x: &str| format!("{x} (group {}:{}, interface {})", w.group, opts.group_port, w.interface);
                    let s2 = socket2::SockRef::from(&s);
                    s2.set_multicast_if_v4(&w.interface).map_err(LiveError::io(what("set the outgoing interface")))?;
                    s2.set_multicast_ttl_v4(w.ttl).map_err(LiveError::io(what("set the TTL")))?;
                    s2.set_multicast_loop_v4(true).map_err(LiveError::io(what("loop multicast back")))?;
                    let g = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(LiveError::io(what("open a socket")))?;
                    g.set_reuse_address(true).map_err(LiveError::io(what("share the group port")))?;
                    g.bind(&SocketAddrV4::new(w.group, opts.group_port).into()).map_err(LiveError::io(what("bind to the group")))?;
                    g.join_multicast_v4(&w.group, &w.interface).map_err(LiveError::io(what("join the group")))?;
                    g.set_read_timeout(Some(POLL)).map_err(LiveError::io(what("set a read timeout")))?;
                    threads.push(spawn_udp_reader(g.into(), tx.clone(), stop.clone()));
                    group = Some(SocketAddrV4::new(w.group, opts.group_port));
                }
                if opts.transport == TransportKind::Multicast {
                    let reader = s.try_clone().map_err(LiveError::io("clone a socket"))?;
                    threads.push(spawn_udp_reader(reader, tx, stop.clone()));
                } else {
                    // UDP alone: the node's loop reads the socket itself
                    // (no thread hand-off, half the context switches).
                    s.set_nonblocking(true).map_err(LiveError::io("make the socket non-blocking"))?;
                }
                (Some(s), addr, group)
            }
            TransportKind::Tcp => {
                let l = TcpListener::bind((bind, 0)).map_err(LiveError::io(format!("listen on {bind}")))?;
                let addr = l.local_addr().map_err(LiveError::io("read the listener's address"))?;
                l.set_nonblocking(true).map_err(LiveError::io("make the listener non-blocking"))?;
                let stop2 = stop.clone();
                threads.push(thread::spawn(move || {
                    while !stop2.load(Ordering::Relaxed) {
                        match l.accept() {
                            Ok((s, _)) => {
                                let _ = s.set_nonblocking(false);
                                spawn_tcp_reader(s, tx.clone(), stop2.clone());
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(1)),
                            Err(_) => thread::sleep(POLL),
                        }
                    }
                }));
                (None, addr, None)
            }
            other => return Err(LiveError::Setup(format!("live mode runs over udp, tcp or multicast, not {other}"))),
        };
        Ok(Endpoint { kind: opts.transport, udp, addr, group, tcp_out: BTreeMap::new(), connect_timeout: opts.wire.timeout, stop, threads })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the node's loop reads the socket itself
    /// rather than a reader thread feeding the channel ([`Endpoint::wait`],
    /// [`Endpoint::try_recv`]).
    pub fn direct(&self) -> bool {
        self.kind == TransportKind::Udp
    }

    /// Waits up to `timeout` until a datagram is there (direct endpoints only).
    pub fn wait(&mut self, timeout: Duration) -> Result<(), LiveError> {
        use std::os::fd::AsRawFd;
        let Some(s) = self.udp.as_ref() else { return Ok(()) };
        let mut pfd = libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
        // SAFETY: one valid pollfd, a valid timespec, no signal mask.
        let r = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(LiveError::Io { what: "wait for datagrams".into(), source: e });
            }
        }
        Ok(())
    }

    /// The next datagram waiting in the socket, read into `buf`, without
    /// blocking (direct endpoints only).
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, LiveError> {
        let Some(s) = self.udp.as_ref() else { return Ok(None) };
        loop {
            match s.recv_from(buf) {
                Ok((len, _)) => return Ok(Some(len)),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(LiveError::Io { what: "receive a datagram".into(), source: e }),
            }
        }
    }

    /// Whether a broadcast can be one datagram to a group.
    pub fn has_group(&self) -> bool {
        self.group.is_some()
    }

    /// Sends one frame to a peer.
    pub fn send(&mut self, to: NodeId, addr: SocketAddr, frame: &[u8]) -> Result<(), LiveError> {
        match self.kind {
            TransportKind::Tcp => {
                if !self.tcp_out.contains_key(&to) {
                    let s = TcpStream::connect_timeout(&addr, self.connect_timeout)
                        .map_err(LiveError::io(format!("connect to node {to} at {addr}")))?;
                    s.set_nodelay(true).map_err(LiveError::io("set TCP_NODELAY"))?;
                    // A peer that stops reading cannot block this node for long.
                    s.set_write_timeout(Some(self.connect_timeout)).map_err(LiveError::io("set a write timeout"))?;
                    self.tcp_out.insert(to, s);
                }
                let s = self.tcp_out.get_mut(&to).expect("connected");
                let mut buf = Vec::with_capacity(frame.len() + 4);
                buf.extend_from_slice(&(frame.len() as u32).to_be_bytes());
                buf.extend_from_slice(frame);
                if let Err(e) = s.write_all(&buf) {
                    // The peer went away (crashed process): forget the connection.
                    self.tcp_out.remove(&to);
                    return Err(LiveError::Io { what: format!("send to node {to} at {addr}"), source: e });
                }
                Ok(())
            }
            _ => {
                let s = self.udp.as_ref().expect("udp socket");
                s.send_to(frame, addr).map(|_| ()).map_err(LiveError::io(format!("send a datagram to node {to} at {addr}")))
            }
        }
    }

    /// Sends one frame to the multicast group.
    pub fn send_group(&mut self, frame: &[u8]) -> Result<(), LiveError> {
        let (Some(s), Some(g)) = (self.udp.as_ref(), self.group) else {
            return Err(LiveError::Setup("no multicast group".into()));
        };
        s.send_to(frame, g).map(|_| ()).map_err(LiveError::io(format!("send a datagram to the group {g}")))
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
