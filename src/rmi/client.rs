//! The client side: `rmi://host:port/name` URLs, a connection that sends
//! JSON-RPC requests one line at a time with timeouts, and the three things a
//! client does — look a name up, list the registry, call a method (a lookup,
//! then a call on the server the registry names).
//!
//! Every failure is a [`ClientError`] that says which step failed and where:
//! the registry unreachable or busy, the name not bound (with what is bound),
//! the object's server gone between lookup and call or busy, the object
//! raising an error, a timeout, or an answer that is not JSON-RPC. Only the
//! object's own errors are [`ClientError::Remote`]: a busy registry is never
//! reported as the object's error.
//!
//! [`Lease`] is the server's side of a leased binding: it renews the lease
//! every third of its time, over a new connection when the old one is gone.

use std::fmt;
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Value, json};

use super::net::{LineRead, read_line};
use super::protocol::{ALREADY_BOUND, Id, LEASE_HELD, NOT_BOUND, Request, Response, RpcError, SERVER_BUSY};
use super::registry::{DEFAULT_PORT, check_name};

/// The longest response line a client accepts.
const MAX_RESPONSE: usize = 1 << 20;

/// `rmi://host[:port][/name]`; the port defaults to 1878.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RmiUrl {
    pub host: String,
    pub port: u16,
    pub name: Option<String>,
}

/// Why a string is not an `rmi://` URL.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{url:?}: expected rmi://host:port/name, found the scheme {scheme:?}")]
    Scheme { url: String, scheme: String },
    #[error("{url:?}: no host; expected rmi://host:port/name, e.g. rmi://127.0.0.1:1878/hello")]
    NoHost { url: String },
    #[error("{url:?}: the port must be a number from 0 to 65535, found {port:?}")]
    Port { url: String, port: String },
    #[error("{url:?}: bad object name: {why}")]
    Name { url: String, why: String },
    #[error("{url:?}: no object name; expected rmi://host:port/name, e.g. rmi://127.0.0.1:1878/hello")]
    NoName { url: String },
}

impl FromStr for RmiUrl {
    type Err = UrlError;

    /// Accepts `rmi://host:port/name`, `//host:port/name`, `host:port/name`,
    /// `host:port` and `host`, with IPv6 hosts in brackets.
    fn from_str(url: &str) -> Result<RmiUrl, UrlError> {
        let rest = match url.split_once("://") {
            Some(("rmi", rest)) => rest,
            Some((scheme, _)) => return Err(UrlError::Scheme { url: url.into(), scheme: scheme.into() }),
            None => url.strip_prefix("//").unwrap_or(url),
        };
        let (authority, name) = match rest.split_once('/') {
            Some((a, n)) => (a, Some(n)),
            None => (rest, None),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            match v6.split_once(']') {
                Some((h, "")) => (h, None),
                Some((h, p)) if p.starts_with(':') => (h, Some(&p[1..])),
                _ => return Err(UrlError::NoHost { url: url.into() }),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost { url: url.into() });
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p.parse().map_err(|_| UrlError::Port { url: url.into(), port: p.into() })?,
        };
        let name = match name {
            None | Some("") => None,
            Some(n) => {
                check_name(n).map_err(|why| UrlError::Name { url: url.into(), why })?;
                Some(n.to_string())
            }
        };
        Ok(RmiUrl { host: host.into(), port, name })
    }
}

impl RmiUrl {
    /// The registry's `host:port`, as it can be given to `connect`.
    pub fn registry(&self) -> String {
        if self.host.contains(':') { format!("[{}]:{}", self.host, self.port) } else { format!("{}:{}", self.host, self.port) }
    }

    /// The object name, or [`UrlError::NoName`].
    pub fn name(&self) -> Result<&str, UrlError> {
        self.name.as_deref().ok_or_else(|| UrlError::NoName { url: self.to_string() })
    }
}

impl fmt::Display for RmiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rmi://{}", self.registry())?;
        if let Some(n) = &self.name {
            write!(f, "/{n}")?;
        }
        Ok(())
    }
}

/// What went wrong on the client side.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("cannot reach the registry at {registry}: {source} (is `distlab rmi registry` running there?)")]
    RegistryUnreachable { registry: String, source: io::Error },
    #[error("lookup failed: {name:?} is not bound in the registry at {registry}; {}", bound_list(.bound))]
    NotBound { name: String, registry: String, bound: Vec<String> },
    #[error("AlreadyBound: {name:?} is already bound in the registry at {registry} (to {address})")]
    AlreadyBound { name: String, registry: String, address: String },
    #[error(
        "LeaseHeld: {name:?} is held by the lease of a running server ({address}) in the registry at {registry}; it is released when that server exits or stops renewing its lease"
    )]
    LeaseHeld { name: String, registry: String, address: String },
    #[error("the registry at {registry} answered: {error}")]
    Registry { registry: String, error: RpcError },
    #[error("the {what} at {peer} is busy, try again later: {message}")]
    Busy { what: String, peer: String, message: String },
    #[error("the server of {name:?} at {address} is gone (the registry still had it bound): {source}")]
    ServerGone { name: String, address: String, source: io::Error },
    #[error("{peer}: {error}")]
    Remote { peer: String, error: RpcError },
    #[error("{peer} did not answer within {:?}", .after)]
    Timeout { peer: String, after: Duration },
    #[error("{peer} closed the connection without answering")]
    Closed { peer: String },
    #[error("talking to {peer}: {source}")]
    Io { peer: String, source: io::Error },
    #[error("{peer} sent something that is not a JSON-RPC response: {detail}")]
    Protocol { peer: String, detail: String },
}

fn bound_list(bound: &[String]) -> String {
    if bound.is_empty() { "nothing is bound".into() } else { format!("bound: {}", bound.join(", ")) }
}

impl ClientError {
    /// Whether the object itself answered with an error (as opposed to the call
    /// not getting through): `distlab rmi call` exits 1 for these, 2 otherwise.
    pub fn is_remote(&self) -> bool {
        matches!(self, ClientError::Remote { .. })
    }
}

/// One connection to a registry or an object server.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    peer: String,
    next_id: u64,
    timeout: Duration,
}

impl Connection {
    /// Connects to `addr` (`host:port`; every address it resolves to is
    /// tried), waiting at most `timeout` for each; reads then wait at most
    /// `timeout` too.
    pub fn connect(addr: &str, timeout: Duration) -> io::Result<Connection> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{addr} resolves to no address"));
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => return Connection::from_stream(s, addr, timeout),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Connects to one socket address.
    pub fn connect_to(addr: SocketAddr, timeout: Duration) -> io::Result<Connection> {
        Connection::from_stream(TcpStream::connect_timeout(&addr, timeout)?, &addr.to_string(), timeout)
    }

    fn from_stream(stream: TcpStream, peer: &str, timeout: Duration) -> io::Result<Connection> {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Connection { reader: BufReader::new(stream.try_clone()?), writer: stream, peer: peer.into(), next_id: 1, timeout })
    }

    /// Sends one request and waits for its answer: the result, or the error
    /// object as [`ClientError::Remote`].
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = serde_json::to_string(&Request::new(id, method, params)).expect("a request serialises");
        let io_err = |peer: &str, timeout, e: io::Error| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout { peer: peer.into(), after: timeout },
            _ => ClientError::Io { peer: peer.into(), source: e },
        };
        let sent = writeln!(self.writer, "{line}").and_then(|_| self.writer.flush());
        let mut buf = Vec::new();
        let read = read_line(&mut self.reader, &mut buf, MAX_RESPONSE);
        // A server that refuses the connection answers and closes at once, so
        // the request may not get through (broken pipe): its answer still
        // says why.
        let read = match (sent, read) {
            (Err(e), Err(_) | Ok(LineRead::Eof)) => return Err(io_err(&self.peer, self.timeout, e)),
            (_, r) => r,
        };
        match read.map_err(|e| io_err(&self.peer, self.timeout, e))? {
            LineRead::Eof => return Err(ClientError::Closed { peer: self.peer.clone() }),
            LineRead::TooLong => {
                return Err(ClientError::Protocol { peer: self.peer.clone(), detail: format!("a line longer than {MAX_RESPONSE} bytes") });
            }
            LineRead::Line => {}
        }
        let response: Response = serde_json::from_slice(&buf).map_err(|e| ClientError::Protocol {
            peer: self.peer.clone(),
            detail: format!("{e}: {}", String::from_utf8_lossy(&buf).trim_end()),
        })?;
        if let Some(error) = response.error {
            return Err(ClientError::Remote { peer: self.peer.clone(), error });
        }
        if response.id != Id::number(id) {
            return Err(ClientError::Protocol {
                peer: self.peer.clone(),
                detail: format!("an answer to id {} instead of {id}", response.id.as_json()),
            });
        }
        Ok(response.result.unwrap_or(Value::Null))
    }
}

fn registry_connection(registry: &str, timeout: Duration) -> Result<Connection, ClientError> {
    Connection::connect(registry, timeout).map_err(|source| ClientError::RegistryUnreachable { registry: registry.into(), source })
}

/// A `ServerBusy` answer of `what` (the registry, a server) as [`ClientError::Busy`].
fn busy(e: ClientError, what: &str) -> ClientError {
    match e {
        ClientError::Remote { peer, error } if error.code == SERVER_BUSY => {
            ClientError::Busy { what: what.into(), peer, message: error.message }
        }
        other => other,
    }
}

/// Turns the registry's errors into their own variants: nothing the registry
/// says is the object's error.
fn registry_error(e: ClientError, registry: &str) -> ClientError {
    let e = busy(e, "registry");
    let ClientError::Remote { error, .. } = &e else { return e };
    let data = error.data.clone().unwrap_or_default();
    let name = data["name"].as_str().unwrap_or_default().to_string();
    let address = data["address"].as_str().unwrap_or("?").to_string();
    match error.code {
        NOT_BOUND => ClientError::NotBound {
            name,
            registry: registry.into(),
            bound: data["bound"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default(),
        },
        ALREADY_BOUND => ClientError::AlreadyBound { name, registry: registry.into(), address },
        LEASE_HELD => ClientError::LeaseHeld { name, registry: registry.into(), address },
        _ => ClientError::Registry { registry: registry.into(), error: error.clone() },
    }
}

/// Asks the registry where `name` is.
pub fn lookup(registry: &str, name: &str, timeout: Duration) -> Result<SocketAddr, ClientError> {
    let mut conn = registry_connection(registry, timeout)?;
    let answer = conn.call("lookup", json!([name])).map_err(|e| registry_error(e, registry))?;
    answer
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ClientError::Protocol { peer: registry.into(), detail: format!("lookup answered {answer}, not \"host:port\"") })
}

/// The names bound in the registry, sorted.
pub fn list(registry: &str, timeout: Duration) -> Result<Vec<String>, ClientError> {
    let mut conn = registry_connection(registry, timeout)?;
    let answer = conn.call("list", json!([])).map_err(|e| registry_error(e, registry))?;
    match answer {
        Value::Array(items) if items.iter().all(Value::is_string) => {
            Ok(items.into_iter().filter_map(|v| v.as_str().map(String::from)).collect())
        }
        other => Err(ClientError::Protocol { peer: registry.into(), detail: format!("list answered {other}, not an array of names") }),
    }
}

/// A binding held by a lease: [`Lease::renew`] within every `ttl` keeps it;
/// closing the connection (the process exits) ends it.
pub struct Lease {
    conn: Option<Connection>,
    pub token: String,
    pub ttl: Duration,
    pub registry: String,
    pub name: String,
    pub address: SocketAddr,
    timeout: Duration,
}

/// Binds `name` to `address` in the registry, with a lease.
pub fn bind_leased(registry: &str, name: &str, address: SocketAddr, rebind: bool, timeout: Duration) -> Result<Lease, ClientError> {
    let mut conn = registry_connection(registry, timeout)?;
    let method = if rebind { "rebind" } else { "bind" };
    let answer = conn
        .call(method, json!({ "name": name, "address": address.to_string(), "lease": true }))
        .map_err(|e| registry_error(e, registry))?;
    let bad = || ClientError::Protocol { peer: registry.into(), detail: format!("{method} answered {answer} without a lease") };
    let token = answer["lease"]["token"].as_str().ok_or_else(bad)?.to_string();
    let ttl = Duration::from_millis(answer["lease"]["ttl_ms"].as_u64().filter(|t| *t > 0).ok_or_else(bad)?);
    Ok(Lease { conn: Some(conn), token, ttl, registry: registry.into(), name: name.into(), address, timeout })
}

impl Lease {
    /// Renews the lease, over a new connection if the last one is gone (the
    /// registry closes idle connections, or makes room for new clients); binds
    /// the name again if the lease ran out meanwhile (the registry restarted).
    pub fn renew(&mut self) -> Result<(), ClientError> {
        let params = json!({ "name": self.name, "token": self.token });
        if let Some(conn) = &mut self.conn {
            match conn.call("renew", params.clone()) {
                Ok(_) => return Ok(()),
                Err(ClientError::Remote { error, .. }) if error.code == NOT_BOUND => return self.rebind(),
                Err(e @ ClientError::Remote { .. }) => return Err(registry_error(e, &self.registry)),
                Err(_) => self.conn = None,
            }
        }
        let mut conn = registry_connection(&self.registry, self.timeout)?;
        let renewed = conn.call("renew", params);
        self.conn = Some(conn);
        match renewed {
            Ok(_) => Ok(()),
            Err(ClientError::Remote { error, .. }) if error.code == NOT_BOUND => self.rebind(),
            Err(e) => Err(registry_error(e, &self.registry)),
        }
    }

    fn rebind(&mut self) -> Result<(), ClientError> {
        let fresh = bind_leased(&self.registry, &self.name, self.address, false, self.timeout)?;
        *self = fresh;
        Ok(())
    }

    /// Renews every third of the lease's time, for ever; returns the error
    /// that ends it (the name taken by another server, say). A renewal that
    /// does not get through is tried again at the next turn.
    pub fn keep(mut self) -> ClientError {
        loop {
            std::thread::sleep(self.ttl / 3);
            match self.renew() {
                Ok(()) => {}
                Err(e @ (ClientError::LeaseHeld { .. } | ClientError::AlreadyBound { .. })) => return e,
                Err(e) => eprintln!("server: cannot renew the lease of {:?} in the registry at {}: {e}", self.name, self.registry),
            }
        }
    }
}

/// Looks `url`'s name up, then calls `method(params)` on the object.
pub fn call(url: &RmiUrl, method: &str, params: Vec<Value>, timeout: Duration) -> Result<Value, ClientError> {
    let name = url.name()?;
    let address = lookup(&url.registry(), name, timeout)?;
    let mut conn = Connection::connect_to(address, timeout).map_err(|source| ClientError::ServerGone {
        name: name.into(),
        address: address.to_string(),
        source,
    })?;
    conn.call(method, Value::Array(params)).map_err(|e| match busy(e, &format!("server of {name:?}")) {
        ClientError::Closed { .. } => ClientError::ServerGone {
            name: name.into(),
            address: address.to_string(),
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "it closed the connection without answering"),
        },
        ClientError::Io { source, .. } => ClientError::ServerGone { name: name.into(), address: address.to_string(), source },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> RmiUrl {
        s.parse().unwrap()
    }

    #[test]
    fn urls_parse() {
        assert_eq!(url("rmi://localhost:1878/hello"), RmiUrl { host: "localhost".into(), port: 1878, name: Some("hello".into()) });
        assert_eq!(url("127.0.0.1:5"), RmiUrl { host: "127.0.0.1".into(), port: 5, name: None });
        assert_eq!(url("//h/x").port, DEFAULT_PORT);
        assert_eq!(url("rmi://[::1]:7/x").registry(), "[::1]:7");
        assert_eq!(url("rmi://127.0.0.1:1878/hello").to_string(), "rmi://127.0.0.1:1878/hello");
    }

    #[test]
    fn bad_urls_say_why() {
        assert!(matches!("http://h:1/x".parse::<RmiUrl>(), Err(UrlError::Scheme { .. })));
        assert!(matches!("rmi://:1/x".parse::<RmiUrl>(), Err(UrlError::NoHost { .. })));
        assert!(matches!("rmi://h:99999/x".parse::<RmiUrl>(), Err(UrlError::Port { .. })));
        assert!(matches!("rmi://h:1/a/b".parse::<RmiUrl>(), Err(UrlError::Name { .. })));
        assert!(matches!(url("rmi://h:1").name(), Err(UrlError::NoName { .. })));
    }
}
