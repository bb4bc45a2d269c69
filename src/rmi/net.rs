//! The line server shared by the registry and the object servers: a blocking
//! `TcpListener`, one thread per connection, and the limits that keep a bad
//! client from hurting the server or shutting others out:
//!
//! - A connection that sends no request for [`Limits::idle_timeout`] is
//!   closed. Only a request counts: blank lines, malformed lines and a line
//!   dribbled in byte by byte do not keep a connection open.
//! - At most [`Limits::max_connections`] connections, and at most
//!   [`Limits::max_per_client`] from one IP address. A new connection is not
//!   refused for want of room while some connection is idle (not in the middle
//!   of a request): the longest-idle one — from the same address when that
//!   address is at its bound — is closed to make room. Only when every
//!   connection is busy does the newcomer get a `ServerBusy` error.
//! - A write timeout, and a maximum line length (a longer line gets an
//!   `InvalidRequest` error and the connection closes).
//!
//! Malformed input is answered with a JSON-RPC error object and logged on
//! stderr, never a panic.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::protocol::{Id, Incoming, Item, MAX_LINE, Response, RpcError, SERVER_BUSY, parse_incoming};

/// Identifies one accepted connection for the life of the server.
pub type ConnId = u64;

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The client closed it (or reset it): it has gone away.
    ByPeer,
    /// The server closed it: idle too long, evicted to make room, or a
    /// protocol error. The client may well still be running.
    ByServer,
}

/// What a server does with each valid request.
pub trait Service: Send + Sync + 'static {
    /// The prefix of this server's log lines (`registry`, `server`).
    fn label(&self) -> &str;
    /// Answers one request.
    fn call(&self, conn: ConnId, method: &str, params: Option<&serde_json::Value>) -> Result<serde_json::Value, RpcError>;
    /// `conn` has closed.
    fn closed(&self, _conn: ConnId, _how: Closed) {}
}

/// The bounds on what one client can make a server do.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_line: usize,
    pub max_connections: usize,
    /// Connections from one IP address.
    pub max_per_client: usize,
    /// A connection that sends no request for this long is closed.
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_line: MAX_LINE,
            max_connections: 64,
            max_per_client: 16,
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// One open connection, as the accept loop sees it.
struct Entry {
    peer: SocketAddr,
    /// When it last sent a request (or was accepted).
    last_active: Instant,
    /// In the middle of answering a request: not to be evicted.
    busy: bool,
    /// A handle to shut the socket down with.
    stream: TcpStream,
    evicted: Arc<AtomicBool>,
}

/// The open connections.
#[derive(Default)]
struct Table {
    conns: BTreeMap<ConnId, Entry>,
}

type Shared = Arc<Mutex<Table>>;

fn lock(t: &Mutex<Table>) -> MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

impl Table {
    /// The longest-idle connection that is not busy, among those `of` accepts.
    fn idlest(&self, of: impl Fn(&Entry) -> bool) -> Option<ConnId> {
        self.conns.iter().filter(|(_, e)| !e.busy && of(e)).min_by_key(|(id, e)| (e.last_active, **id)).map(|(id, _)| *id)
    }

    /// Makes room for a connection from `ip`: `Ok` with the connection to
    /// close (if one must go), `Err` when every candidate is busy.
    fn room_for(&self, ip: IpAddr, limits: &Limits) -> Result<Option<ConnId>, String> {
        let same = self.conns.values().filter(|e| e.peer.ip() == ip).count();
        if same >= limits.max_per_client.max(1) {
            return self.idlest(|e| e.peer.ip() == ip).map(Some).ok_or_else(|| format!("{same} connections from {ip}, all busy"));
        }
        if self.conns.len() >= limits.max_connections.max(1) {
            return self.idlest(|_| true).map(Some).ok_or_else(|| format!("{} connections, all busy", self.conns.len()));
        }
        Ok(None)
    }
}

/// Accepts connections on `listener` forever, one thread each.
pub fn serve<S: Service>(listener: TcpListener, service: Arc<S>, limits: Limits) -> ! {
    let table: Shared = Arc::default();
    let mut next_id: ConnId = 1;
    let limits = Arc::new(limits);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait and go on.
                eprintln!("{}: accept failed: {e}", service.label());
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let conn = next_id;
        next_id += 1;
        if let Err(why) = admit(&table, conn, &stream, peer, &limits, service.label()) {
            refuse(stream, peer, &why, service.label());
            continue;
        }
        let (svc, lim, tab) = (service.clone(), limits.clone(), table.clone());
        let spawned = std::thread::Builder::new().name(format!("conn-{conn}")).spawn(move || {
            let _slot = Slot { table: tab.clone(), conn };
            let how = handle(stream, peer, conn, &*svc, &lim, &tab);
            svc.closed(conn, how);
        });
        if let Err(e) = spawned {
            eprintln!("{}: cannot start a thread for {peer}: {e}", service.label());
            lock(&table).conns.remove(&conn);
        }
    }
}

/// Enters `conn` in the table, closing the connection that must make room.
fn admit(table: &Shared, conn: ConnId, stream: &TcpStream, peer: SocketAddr, limits: &Limits, label: &str) -> Result<(), String> {
    let handle = stream.try_clone().map_err(|e| e.to_string())?;
    let mut t = lock(table);
    if let Some(victim) = t.room_for(peer.ip(), limits)?
        && let Some(e) = t.conns.remove(&victim)
    {
        eprintln!("{label}: closing the idle connection from {} to make room for {peer}", e.peer);
        e.evicted.store(true, Ordering::SeqCst);
        let _ = e.stream.shutdown(Shutdown::Both);
    }
    let entry = Entry { peer, last_active: Instant::now(), busy: false, stream: handle, evicted: Arc::default() };
    t.conns.insert(conn, entry);
    Ok(())
}

/// Answers a connection there is no room for with `ServerBusy`, and closes it
/// without resetting it (what it sent is read first, briefly).
fn refuse(stream: TcpStream, peer: SocketAddr, why: &str, label: &str) {
    eprintln!("{label}: refusing {peer}: {why}");
    let busy = RpcError::new(SERVER_BUSY, format!("server busy: {why}; try again later"));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = writeln!(&stream, "{}", Response::new(Id::null(), Err(busy)).to_line());
    let _ = stream.shutdown(Shutdown::Write);
    if stream.set_nonblocking(true).is_ok() {
        let mut scratch = [0u8; 4096];
        let _ = (&stream).read(&mut scratch);
    }
}

/// Takes a connection out of the table when its thread ends, even by panic.
struct Slot {
    table: Shared,
    conn: ConnId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.table).conns.remove(&self.conn);
    }
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum LineRead {
    /// A line (its newline, if any, is still in the buffer).
    Line,
    /// More than the maximum without a newline.
    TooLong,
    Eof,
}

/// Reads one line of at most `max` bytes (plus the newline) into `buf`.
pub fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<LineRead> {
    let n = reader.take(max as u64 + 1).read_until(b'\n', buf)?;
    Ok(if n == 0 {
        LineRead::Eof
    } else if buf.last() != Some(&b'\n') && buf.len() > max {
        LineRead::TooLong
    } else {
        LineRead::Line
    })
}

/// [`read_line`] that fails with `TimedOut` at `deadline`, however the bytes
/// trickle in (each read waits only for what is left of the time).
fn read_line_by(reader: &mut BufReader<TcpStream>, buf: &mut Vec<u8>, max: usize, deadline: Instant) -> io::Result<LineRead> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "idle"));
        }
        reader.get_ref().set_read_timeout(Some(left))?;
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(if buf.is_empty() { LineRead::Eof } else { LineRead::Line });
        }
        let room = max + 1 - buf.len();
        let (take, done) = match available.iter().take(room).position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len().min(room), false),
        };
        buf.extend_from_slice(&available[..take]);
        reader.consume(take);
        if done {
            return Ok(LineRead::Line);
        }
        if buf.len() > max {
            return Ok(LineRead::TooLong);
        }
    }
}

/// Serves one connection until it closes; says who closed it.
fn handle<S: Service>(stream: TcpStream, peer: SocketAddr, conn: ConnId, service: &S, limits: &Limits, table: &Shared) -> Closed {
    let label = service.label();
    let evicted = lock(table).conns.get(&conn).map(|e| e.evicted.clone()).unwrap_or_default();
    let by_peer = || if evicted.load(Ordering::SeqCst) { Closed::ByServer } else { Closed::ByPeer };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let Ok(read_half) = stream.try_clone() else { return Closed::ByServer };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    let mut buf = Vec::new();
    let mut last_active = Instant::now();
    loop {
        buf.clear();
        match read_line_by(&mut reader, &mut buf, limits.max_line, last_active + limits.idle_timeout) {
            Ok(LineRead::Eof) => return by_peer(),
            Ok(LineRead::TooLong) => {
                eprintln!("{label}: request line from {peer} longer than {} bytes; closing the connection", limits.max_line);
                let e = RpcError::invalid_request(format!("request line longer than {} bytes; closing the connection", limits.max_line))
                    .with_data(serde_json::json!({ "max_line_bytes": limits.max_line }));
                let _ = writeln!(writer, "{}", Response::new(Id::null(), Err(e)).to_line());
                let _ = writer.flush();
                // Read (and drop) what the client is still sending, so that
                // closing with unread data does not reset the connection
                // before the client has read the error.
                let _ = writer.shutdown(Shutdown::Write);
                drain(reader.get_mut());
                return Closed::ByServer;
            }
            Ok(LineRead::Line) => {
                let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                // Busy until the answer is written: not to be evicted meanwhile.
                set_busy(table, conn, true, None);
                let (answer, requested) = dispatch(service, conn, peer, line);
                let written = answer.is_none_or(|a| writeln!(writer, "{a}").is_ok() && writer.flush().is_ok());
                if requested {
                    last_active = Instant::now();
                }
                set_busy(table, conn, false, requested.then_some(last_active));
                if !written {
                    return by_peer();
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                eprintln!("{label}: {peer} sent no request for {:?}; closing the connection", limits.idle_timeout);
                return Closed::ByServer;
            }
            Err(_) => return by_peer(),
        }
    }
}

fn set_busy(table: &Shared, conn: ConnId, busy: bool, active: Option<Instant>) {
    if let Some(e) = lock(table).conns.get_mut(&conn) {
        e.busy = busy;
        if let Some(at) = active {
            e.last_active = at;
        }
    }
}

/// Discards up to 4 MiB or 2 s of input, until the peer closes.
fn drain(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut scratch = [0u8; 8192];
    let mut total = 0usize;
    while total < 4 << 20 {
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

/// Answers one line: the answer (`None` when nothing is to be sent: a blank
/// line, notifications only), and whether it held at least one valid request
/// (what counts as activity).
fn dispatch<S: Service>(service: &S, conn: ConnId, peer: SocketAddr, line: &[u8]) -> (Option<String>, bool) {
    let mut requested = false;
    let mut answer = |item: Item| -> Option<Response> {
        match item {
            Err((id, e)) => {
                eprintln!("{}: bad request from {peer}: {e}", service.label());
                Some(Response::new(id, Err(e)))
            }
            Ok(req) => {
                requested = true;
                let outcome = service.call(conn, &req.method, req.params.as_ref());
                req.id.map(|id| Response::new(id, outcome))
            }
        }
    };
    let text = match parse_incoming(line) {
        Incoming::Blank => None,
        Incoming::Invalid(e) => {
            eprintln!("{}: bad request from {peer}: {e}", service.label());
            Some(Response::new(Id::null(), Err(e)).to_line())
        }
        Incoming::Single(item) => answer(item).map(|r| r.to_line()),
        Incoming::Batch(items) => {
            let answers: Vec<Response> = items.into_iter().filter_map(&mut answer).collect();
            (!answers.is_empty()).then(|| serde_json::to_string(&answers).expect("responses serialise"))
        }
    };
    (text, requested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rmi::server::Calculator;

    const SQRT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"sqrt","params":[16]}"#;

    fn ask(stream: &TcpStream, line: &str) -> io::Result<String> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        writeln!(&*stream, "{line}")?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer)?;
        Ok(answer)
    }

    fn start(limits: Limits) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || serve(listener, Arc::new(Calculator { echo: false }), limits));
        addr
    }

    /// Reads until the server closes the connection; fails after 10 s.
    fn closed_by_server(stream: &TcpStream) -> bool {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        match (&*stream).read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
        }
    }

    #[test]
    fn a_new_connection_closes_the_idlest_one_when_the_server_is_full() {
        let addr = start(Limits { max_connections: 2, ..Limits::default() });
        let first = TcpStream::connect(addr).unwrap();
        assert!(ask(&first, SQRT).unwrap().contains(r#""result":4.0"#));
        std::thread::sleep(Duration::from_millis(20));
        let second = TcpStream::connect(addr).unwrap();
        assert!(ask(&second, SQRT).unwrap().contains(r#""result":4.0"#));
        // Full: the third gets in, and the first (idle the longest) goes.
        let third = TcpStream::connect(addr).unwrap();
        assert!(ask(&third, SQRT).unwrap().contains(r#""result":4.0"#));
        assert!(closed_by_server(&first));
        assert!(ask(&second, SQRT).unwrap().contains(r#""result":4.0"#), "the second stays");
    }

    #[test]
    fn blank_lines_and_dribbled_bytes_do_not_keep_a_connection_open() {
        let addr = start(Limits { idle_timeout: Duration::from_millis(300), ..Limits::default() });
        let blank = TcpStream::connect(addr).unwrap();
        let dribble = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        // Every 50 ms a blank line on one, one byte of a request on the other,
        // for up to 5 s: both must be closed after about 300 ms.
        let mut open = [true, true];
        while open.iter().any(|o| *o) && started.elapsed() < Duration::from_secs(5) {
            open[0] = open[0] && (&blank).write_all(b"\n").is_ok();
            open[1] = open[1] && (&dribble).write_all(b"{").is_ok();
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(closed_by_server(&blank) && closed_by_server(&dribble));
        assert!(started.elapsed() < Duration::from_secs(5), "open after {:?}", started.elapsed());
        // Requests do keep one open, for longer than the timeout.
        let busy = TcpStream::connect(addr).unwrap();
        for _ in 0..8 {
            assert!(ask(&busy, SQRT).unwrap().contains(r#""result":4.0"#));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[test]
    fn one_address_cannot_take_every_slot() {
        let limits = Limits { max_connections: 8, max_per_client: 3, ..Limits::default() };
        let mut table = Table::default();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let a: SocketAddr = "127.0.0.2:1000".parse().unwrap();
        for k in 0..3 {
            let s = TcpStream::connect(addr).unwrap();
            let e = Entry { peer: a, last_active: Instant::now(), busy: k == 0, stream: s, evicted: Arc::default() };
            table.conns.insert(k, e);
        }
        // The same address at its bound: its idlest, not a busy one, goes.
        assert_eq!(table.room_for(a.ip(), &limits), Ok(Some(1)));
        // Another address is let in without closing anything.
        assert_eq!(table.room_for("127.0.0.3".parse().unwrap(), &limits), Ok(None));
        for e in table.conns.values_mut() {
            e.busy = true;
        }
        assert!(table.room_for(a.ip(), &limits).is_err(), "all busy: refused");
    }

    #[test]
    fn read_line_caps_the_length() {
        let mut buf = Vec::new();
        let mut r = io::Cursor::new(b"abc\ndefgh\nij".to_vec());
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), LineRead::Line);
        assert_eq!(buf, b"abc\n");
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), LineRead::TooLong);
        let mut r = io::Cursor::new(b"abcd\nij".to_vec());
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), LineRead::Line);
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), LineRead::Line);
        assert_eq!(buf, b"ij");
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), LineRead::Eof);
    }
}
