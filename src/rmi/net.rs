//! The line server shared by the registry and the object servers: a blocking
//! `TcpListener`, one thread per connection, and the limits that keep a bad
//! client from hurting the server — at most [`Limits::max_connections`] at
//! once (the next one gets a `ServerBusy` error and is closed), an idle read
//! timeout, a write timeout, and a maximum line length (a longer line gets an
//! `InvalidRequest` error and the connection closes). Malformed input is
//! answered with a JSON-RPC error object and logged on stderr, never a panic.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::protocol::{Incoming, Item, MAX_LINE, Response, RpcError, SERVER_BUSY, parse_incoming};

/// Identifies one accepted connection for the life of the server.
pub type ConnId = u64;

/// What a server does with each valid request.
pub trait Service: Send + Sync + 'static {
    /// The prefix of this server's log lines (`registry`, `server`).
    fn label(&self) -> &str;
    /// Answers one request.
    fn call(&self, conn: ConnId, method: &str, params: Option<&Value>) -> Result<Value, RpcError>;
    /// Whether `conn` must stay open however long it is idle (a registry
    /// connection that holds a lease on a binding).
    fn keeps_open(&self, _conn: ConnId) -> bool {
        false
    }
    /// `conn` has closed.
    fn closed(&self, _conn: ConnId) {}
}

/// The bounds on what one client can make a server do.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_line: usize,
    pub max_connections: usize,
    /// A connection silent for this long is closed.
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_line: MAX_LINE, max_connections: 64, idle_timeout: Duration::from_secs(60), write_timeout: Duration::from_secs(10) }
    }
}

/// Accepts connections on `listener` forever, one thread each.
pub fn serve<S: Service>(listener: TcpListener, service: Arc<S>, limits: Limits) -> ! {
    let active = Arc::new(AtomicUsize::new(0));
    let next_id = AtomicU64::new(1);
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
        if active.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
            active.fetch_sub(1, Ordering::SeqCst);
            eprintln!("{}: refusing {peer}: {} connections open", service.label(), limits.max_connections);
            let busy = RpcError::new(SERVER_BUSY, format!("server busy: {} connections open; try again later", limits.max_connections));
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = writeln!(&stream, "{}", Response::new(Value::Null, Err(busy)).to_line());
            continue;
        }
        let conn = next_id.fetch_add(1, Ordering::Relaxed);
        let (svc, lim, slot) = (service.clone(), limits.clone(), Slot(active.clone()));
        let spawned = std::thread::Builder::new().name(format!("conn-{conn}")).spawn(move || {
            let _slot = slot;
            handle(stream, peer, conn, &*svc, &lim);
            svc.closed(conn);
        });
        if let Err(e) = spawned {
            eprintln!("{}: cannot start a thread for {peer}: {e}", service.label());
        }
    }
}

/// Frees a connection slot when the connection's thread ends, even by panic.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
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

fn handle<S: Service>(stream: TcpStream, peer: SocketAddr, conn: ConnId, service: &S, limits: &Limits) {
    let label = service.label();
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    if stream.set_read_timeout(Some(limits.idle_timeout)).is_err() {
        return;
    }
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    let mut buf = Vec::new();
    let mut kept_open = false;
    loop {
        buf.clear();
        match read_line(&mut reader, &mut buf, limits.max_line) {
            Ok(LineRead::Eof) => return,
            Ok(LineRead::TooLong) => {
                eprintln!("{label}: request line from {peer} longer than {} bytes; closing the connection", limits.max_line);
                let e = RpcError::invalid_request(format!("request line longer than {} bytes; closing the connection", limits.max_line))
                    .with_data(serde_json::json!({ "max_line_bytes": limits.max_line }));
                let _ = writeln!(writer, "{}", Response::new(Value::Null, Err(e)).to_line());
                let _ = writer.flush();
                // Read (and drop) what the client is still sending, so that
                // closing with unread data does not reset the connection
                // before the client has read the error.
                let _ = writer.shutdown(Shutdown::Write);
                drain(reader.get_mut());
                return;
            }
            Ok(LineRead::Line) => {
                let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(answer) = dispatch(service, conn, peer, line)
                    && (writeln!(writer, "{answer}").is_err() || writer.flush().is_err())
                {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                eprintln!("{label}: {peer} idle for {:?}; closing the connection", limits.idle_timeout);
                return;
            }
            Err(_) => return,
        }
        let keep = service.keeps_open(conn);
        if keep != kept_open {
            kept_open = keep;
            let timeout = if keep { None } else { Some(limits.idle_timeout) };
            if reader.get_ref().set_read_timeout(timeout).is_err() {
                return;
            }
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

/// Answers one line: `None` when nothing is to be sent (blank line,
/// notifications only).
fn dispatch<S: Service>(service: &S, conn: ConnId, peer: SocketAddr, line: &[u8]) -> Option<String> {
    let answer = |item: Item| -> Option<Response> {
        match item {
            Err((id, e)) => {
                eprintln!("{}: bad request from {peer}: {e}", service.label());
                Some(Response::new(id, Err(e)))
            }
            Ok(req) => {
                let outcome = service.call(conn, &req.method, req.params.as_ref());
                req.id.map(|id| Response::new(id, outcome))
            }
        }
    };
    match parse_incoming(line) {
        Incoming::Blank => None,
        Incoming::Invalid(e) => {
            eprintln!("{}: bad request from {peer}: {e}", service.label());
            Some(Response::new(Value::Null, Err(e)).to_line())
        }
        Incoming::Single(item) => answer(item).map(|r| r.to_line()),
        Incoming::Batch(items) => {
            let answers: Vec<Response> = items.into_iter().filter_map(answer).collect();
            (!answers.is_empty()).then(|| serde_json::to_string(&answers).expect("responses serialise"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rmi::server::Calculator;
    use std::time::Instant;

    fn ask(stream: &TcpStream, line: &str) -> io::Result<String> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        writeln!(&*stream, "{line}")?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer)?;
        Ok(answer)
    }

    #[test]
    fn connections_are_capped_and_idle_ones_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits { max_connections: 1, idle_timeout: Duration::from_millis(300), ..Limits::default() };
        std::thread::spawn(move || serve(listener, Arc::new(Calculator { echo: false }), limits));
        let sqrt = r#"{"jsonrpc":"2.0","id":1,"method":"sqrt","params":[16]}"#;
        let first = TcpStream::connect(addr).unwrap();
        assert!(ask(&first, sqrt).unwrap().contains(r#""result":4.0"#));
        let second = TcpStream::connect(addr).unwrap();
        let mut busy = String::new();
        second.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        BufReader::new(&second).read_line(&mut busy).unwrap();
        assert!(busy.contains("-32003"), "{busy}");
        // The first connection, idle, is closed; then a new one gets through.
        let mut rest = String::new();
        first.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(BufReader::new(&first).read_line(&mut rest).unwrap_or(0), 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let third = TcpStream::connect(addr).unwrap();
            if ask(&third, sqrt).is_ok_and(|a| a.contains(r#""result":4.0"#)) {
                break;
            }
            assert!(Instant::now() < deadline, "the slot was never freed");
            std::thread::sleep(Duration::from_millis(20));
        }
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
