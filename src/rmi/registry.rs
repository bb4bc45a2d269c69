//! The registry: a name service mapping object names to the `host:port` of
//! the server that holds the object, like Java's `rmiregistry` on port 1878 in
//! the seed lab.
//!
//! Methods (params by position or by name):
//!
//! | method   | params                                      | result                                  |
//! |----------|---------------------------------------------|-----------------------------------------|
//! | `bind`   | `name`, `address`, `lease` (false)          | `{"name", "address"}` (+ `"lease"`)     |
//! | `rebind` | `name`, `address`, `lease` (false), `token` | `{"name", "address"}` (+ `"lease"`)     |
//! | `renew`  | `name`, `token`                             | `{"name", "ttl_ms"}`                    |
//! | `unbind` | `name`, `token`                             | `{"name", "address"}` (removed)         |
//! | `lookup` | `name`                                      | `"127.0.0.1:40123"`                     |
//! | `list`   | —                                           | `["calc", "hello"]` (sorted)            |
//!
//! `bind` of a bound name fails with `AlreadyBound` (-32001) — unless the
//! binding is stale: bound without a lease and its server no longer accepts
//! connections, in which case it is replaced. `lookup` and `unbind` of an
//! unbound name fail with `NotBound` (-32002), whose `data.bound` lists the
//! names there are.
//!
//! A binding made with `"lease": true` is held by a lease: the answer carries
//! `"lease": {"token": "…", "ttl_ms": 30000}`, and the binding lasts while its
//! holder calls `renew` with that token within every `ttl_ms` (from any
//! connection), and until the connection that bound or last renewed it is
//! closed by the client (the server exits or is killed). Without renewals the
//! name is unbound when the lease runs out; a connection the registry closes
//! (idle, or to make room) does not end the lease. Nobody without the token
//! can `rebind`, `unbind` or `renew` a leased name (`LeaseHeld`, -32004).
//! `distlab rmi serve` binds with a lease and renews it every third of its
//! time.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::net::{self, Closed, ConnId, Limits, Service};
use super::protocol::{ALREADY_BOUND, LEASE_HELD, NOT_BOUND, RpcError, kind, param};

/// The registry's methods.
pub const METHODS: &[&str] = &["bind", "rebind", "renew", "unbind", "lookup", "list"];

/// The port the seed's registry listens on.
pub const DEFAULT_PORT: u16 = 1878;

/// How long a lease lasts without a renewal, unless `--lease-ttl` says.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// How long `bind` waits to learn whether a bound server is still there.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Lease {
    token: String,
    /// The connection whose closing by the client ends the lease.
    owner: ConnId,
    expires: Instant,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Binding {
    address: SocketAddr,
    lease: Option<Lease>,
    /// Tells two bindings of the same name and address apart.
    serial: u64,
}

#[derive(Default)]
struct Table {
    names: BTreeMap<String, Binding>,
    serial: u64,
}

impl Table {
    /// Unbinds the names whose lease ran out.
    fn expire(&mut self, now: Instant, ttl: Duration) {
        let gone: Vec<String> =
            self.names.iter().filter(|(_, b)| b.lease.as_ref().is_some_and(|l| l.expires <= now)).map(|(n, _)| n.clone()).collect();
        for name in gone {
            if let Some(b) = self.names.remove(&name) {
                println!("registry: unbound {name} ({}): its lease was not renewed within {ttl:?}", b.address);
            }
        }
    }
}

/// The registry's state; a [`Service`] for [`net::serve`].
pub struct Registry {
    table: Mutex<Table>,
    lease_ttl: Duration,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry::with_lease_ttl(DEFAULT_LEASE_TTL)
    }

    /// A registry whose leases last `ttl` without a renewal.
    pub fn with_lease_ttl(ttl: Duration) -> Registry {
        Registry { table: Mutex::default(), lease_ttl: ttl }
    }

    /// The bound names with their addresses, sorted by name.
    pub fn bindings(&self) -> Vec<(String, SocketAddr)> {
        self.lock().names.iter().map(|(n, b)| (n.clone(), b.address)).collect()
    }

    /// The table, with the leases that ran out removed.
    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic in another connection's thread leaves the map consistent.
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.expire(Instant::now(), self.lease_ttl);
        t
    }

    fn not_bound(&self, name: &str) -> RpcError {
        let bound: Vec<String> = self.lock().names.keys().cloned().collect();
        let listing = if bound.is_empty() { "nothing is bound".to_string() } else { format!("bound: {}", bound.join(", ")) };
        RpcError::new(NOT_BOUND, format!("{name:?} is not bound; {listing}")).with_data(json!({ "name": name, "bound": bound }))
    }

    fn lease_held(&self, name: &str, address: SocketAddr) -> RpcError {
        RpcError::new(
            LEASE_HELD,
            format!(
                "{name:?} is held by the lease of a running server ({address}): only its holder can rebind, renew or unbind it; it is released when that server exits or stops renewing (within {:?})",
                self.lease_ttl
            ),
        )
        .with_data(json!({ "name": name, "address": address.to_string() }))
    }

    /// A fresh lease for `conn`, as the answer shows it.
    fn new_lease(&self, conn: ConnId, serial: u64) -> (Lease, Value) {
        let token = new_token(serial);
        let ttl_ms = u64::try_from(self.lease_ttl.as_millis()).unwrap_or(u64::MAX);
        let shown = json!({ "token": token, "ttl_ms": ttl_ms });
        (Lease { token, owner: conn, expires: Instant::now() + self.lease_ttl }, shown)
    }

    fn bind(&self, conn: ConnId, params: Option<&Value>, replace: bool) -> Result<Value, RpcError> {
        let name = name_param(params)?;
        let address = match param(params, 1, "address") {
            Some(Value::String(s)) => s.parse::<SocketAddr>().map_err(|_| {
                RpcError::invalid_params(format!("\"address\" must be an IP address and a port like \"127.0.0.1:40123\", found {s:?}"))
            })?,
            Some(other) => return Err(RpcError::invalid_params(format!("\"address\" must be a string, found {}", kind(other)))),
            None => return Err(RpcError::invalid_params("missing parameter \"address\" (\"host:port\" of the object's server)")),
        };
        let lease = match param(params, 2, "lease") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(RpcError::invalid_params(format!("\"lease\" must be a boolean, found {}", kind(other)))),
        };
        let token = token_param(params, 3)?;
        let existing = self.lock().names.get(&name).cloned();
        let mut replaced = None;
        if let Some(old) = &existing {
            if let Some(l) = &old.lease
                && token.as_deref() != Some(l.token.as_str())
            {
                return Err(if replace { self.lease_held(&name, old.address) } else { already_bound(&name, old.address) });
            }
            if !replace {
                // A binding without a lease may outlive its server: probe it
                // (without holding the lock) and replace it if nothing answers.
                let stale = old.lease.is_none() && TcpStream::connect_timeout(&old.address, PROBE_TIMEOUT).is_err();
                if !stale {
                    return Err(already_bound(&name, old.address));
                }
                replaced = Some(old.address);
            }
        }
        let mut table = self.lock();
        if table.names.get(&name) != existing.as_ref() {
            let now = table.names.get(&name).map(|b| b.address);
            return Err(match now {
                Some(a) => already_bound(&name, a),
                None => RpcError::new(ALREADY_BOUND, format!("{name:?} changed while binding; try again")),
            });
        }
        table.serial += 1;
        let serial = table.serial;
        let (lease, shown) = match lease {
            true => {
                let (l, shown) = self.new_lease(conn, serial);
                (Some(l), shown)
            }
            false => (None, Value::Null),
        };
        let previous = table.names.insert(name.clone(), Binding { address, lease, serial });
        drop(table);
        match (replaced, previous) {
            (Some(old), _) => println!("registry: bound {name} -> {address} (replacing stale {old})"),
            (None, Some(old)) => println!("registry: rebound {name} -> {address} (was {})", old.address),
            (None, None) => println!("registry: bound {name} -> {address}"),
        }
        let mut answer = json!({ "name": name, "address": address.to_string() });
        if !shown.is_null() {
            answer["lease"] = shown;
        }
        Ok(answer)
    }

    fn renew(&self, conn: ConnId, params: Option<&Value>) -> Result<Value, RpcError> {
        let name = name_param(params)?;
        let token =
            token_param(params, 1)?.ok_or_else(|| RpcError::invalid_params("missing parameter \"token\" (the lease's, from bind)"))?;
        let mut table = self.lock();
        let Some(b) = table.names.get_mut(&name) else {
            drop(table);
            return Err(self.not_bound(&name));
        };
        match &mut b.lease {
            Some(l) if l.token == token => {
                l.expires = Instant::now() + self.lease_ttl;
                l.owner = conn;
                Ok(json!({ "name": name, "ttl_ms": u64::try_from(self.lease_ttl.as_millis()).unwrap_or(u64::MAX) }))
            }
            _ => {
                let address = b.address;
                drop(table);
                Err(self.lease_held(&name, address))
            }
        }
    }

    fn unbind(&self, params: Option<&Value>) -> Result<Value, RpcError> {
        let name = name_param(params)?;
        let token = token_param(params, 1)?;
        let mut table = self.lock();
        if let Some(b) = table.names.get(&name)
            && let Some(l) = &b.lease
            && token.as_deref() != Some(l.token.as_str())
        {
            let address = b.address;
            drop(table);
            return Err(self.lease_held(&name, address));
        }
        let removed = table.names.remove(&name);
        drop(table);
        match removed {
            Some(b) => {
                println!("registry: unbound {name} ({})", b.address);
                Ok(json!({ "name": name, "address": b.address.to_string() }))
            }
            None => Err(self.not_bound(&name)),
        }
    }

    fn lookup(&self, params: Option<&Value>) -> Result<Value, RpcError> {
        let name = name_param(params)?;
        let found = self.lock().names.get(&name).map(|b| b.address);
        match found {
            Some(a) => Ok(Value::String(a.to_string())),
            None => Err(self.not_bound(&name)),
        }
    }
}

/// 128 bits nobody else can guess: std's randomly keyed SipHash over the
/// serial, the time and a fresh key each call.
fn new_token(serial: u64) -> String {
    use std::hash::BuildHasher;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let a = std::collections::hash_map::RandomState::new().hash_one((serial, now, 1u8));
    let b = std::collections::hash_map::RandomState::new().hash_one((serial, now, 2u8));
    format!("{a:016x}{b:016x}")
}

fn already_bound(name: &str, address: SocketAddr) -> RpcError {
    RpcError::new(ALREADY_BOUND, format!("{name:?} is already bound (to {address})"))
        .with_data(json!({ "name": name, "address": address.to_string() }))
}

/// The optional `token` parameter (position `index`, or by name).
fn token_param(params: Option<&Value>, index: usize) -> Result<Option<String>, RpcError> {
    match param(params, index, "token") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(RpcError::invalid_params(format!("\"token\" must be a string, found {}", kind(other)))),
    }
}

/// The `name` parameter, checked: 1 to 200 characters, no `/`, no whitespace
/// or control characters (it has to fit in an `rmi://host:port/name` URL).
fn name_param(params: Option<&Value>) -> Result<String, RpcError> {
    match param(params, 0, "name") {
        Some(Value::String(s)) => {
            check_name(s).map_err(RpcError::invalid_params)?;
            Ok(s.clone())
        }
        Some(other) => Err(RpcError::invalid_params(format!("\"name\" must be a string, found {}", kind(other)))),
        None => Err(RpcError::invalid_params("missing parameter \"name\"")),
    }
}

/// Whether `name` can be bound; the error says why not.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 200 {
        return Err(format!("a name has 1 to 200 characters, found {}", name.chars().count()));
    }
    if let Some(c) = name.chars().find(|c| *c == '/' || c.is_whitespace() || c.is_control()) {
        return Err(format!("a name cannot contain {c:?}: {name:?}"));
    }
    Ok(())
}

impl Service for Registry {
    fn label(&self) -> &str {
        "registry"
    }

    fn call(&self, conn: ConnId, method: &str, params: Option<&Value>) -> Result<Value, RpcError> {
        match method {
            "bind" => self.bind(conn, params, false),
            "rebind" => self.bind(conn, params, true),
            "renew" => self.renew(conn, params),
            "unbind" => self.unbind(params),
            "lookup" => self.lookup(params),
            "list" => Ok(json!(self.lock().names.keys().collect::<Vec<_>>())),
            _ => Err(RpcError::method_not_found(method, METHODS)),
        }
    }

    fn closed(&self, conn: ConnId, how: Closed) {
        if how != Closed::ByPeer {
            return;
        }
        let mut table = self.lock();
        let gone: Vec<String> =
            table.names.iter().filter(|(_, b)| b.lease.as_ref().is_some_and(|l| l.owner == conn)).map(|(n, _)| n.clone()).collect();
        for name in gone {
            if let Some(b) = table.names.remove(&name) {
                println!("registry: unbound {name} ({}): its server disconnected", b.address);
            }
        }
    }
}

/// Serves a registry on `listener` forever.
pub fn run(listener: TcpListener, lease_ttl: Duration, limits: Limits) -> ! {
    net::serve(listener, Arc::new(Registry::with_lease_ttl(lease_ttl)), limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_of(answer: &Value) -> String {
        answer["lease"]["token"].as_str().expect("a lease token").to_string()
    }

    #[test]
    fn bind_lookup_list_unbind() {
        let r = Registry::new();
        let p = json!(["hello", "127.0.0.1:9"]);
        // A leased binding is never probed, so nothing needs to listen.
        let leased = json!({"name": "hello", "address": "127.0.0.1:9", "lease": true});
        let answer = r.call(1, "bind", Some(&leased)).unwrap();
        assert_eq!(answer["lease"]["ttl_ms"], json!(30_000));
        assert_eq!(token_of(&answer).len(), 32);
        assert_eq!(r.call(2, "bind", Some(&p)).unwrap_err().code, ALREADY_BOUND);
        assert_eq!(r.call(2, "lookup", Some(&json!(["hello"]))).unwrap(), json!("127.0.0.1:9"));
        assert_eq!(r.call(2, "list", None).unwrap(), json!(["hello"]));
        let e = r.call(2, "lookup", Some(&json!({"name": "hallo"}))).unwrap_err();
        assert_eq!((e.code, e.data.unwrap()["bound"].clone()), (NOT_BOUND, json!(["hello"])));
        // Closed by the registry (idle, evicted): the lease stays; by the client: gone.
        r.closed(1, Closed::ByServer);
        assert_eq!(r.call(2, "list", None).unwrap(), json!(["hello"]));
        r.closed(1, Closed::ByPeer);
        assert_eq!(r.call(2, "list", None).unwrap(), json!([]));
        r.call(2, "rebind", Some(&p)).unwrap();
        r.call(2, "unbind", Some(&json!(["hello"]))).unwrap();
        assert_eq!(r.call(2, "unbind", Some(&json!(["hello"]))).unwrap_err().code, NOT_BOUND);
    }

    #[test]
    fn only_the_lease_holder_can_rebind_renew_or_unbind() {
        let r = Registry::new();
        let token = token_of(&r.call(1, "bind", Some(&json!({"name": "x", "address": "127.0.0.1:9", "lease": true}))).unwrap());
        for (method, params) in [
            ("rebind", json!(["x", "127.0.0.1:10"])),
            ("rebind", json!({"name": "x", "address": "127.0.0.1:10", "lease": true, "token": "guess"})),
            ("unbind", json!(["x"])),
            ("unbind", json!({"name": "x", "token": "guess"})),
            ("renew", json!({"name": "x", "token": "guess"})),
        ] {
            assert_eq!(r.call(2, method, Some(&params)).unwrap_err().code, LEASE_HELD, "{method} {params}");
        }
        assert_eq!(r.call(2, "lookup", Some(&json!(["x"]))).unwrap(), json!("127.0.0.1:9"));
        // With the token, from another connection: renew moves the lease there.
        r.call(3, "renew", Some(&json!({"name": "x", "token": token}))).unwrap();
        r.closed(1, Closed::ByPeer);
        assert_eq!(r.call(2, "list", None).unwrap(), json!(["x"]));
        r.call(3, "unbind", Some(&json!({"name": "x", "token": token}))).unwrap();
        assert_eq!(r.call(2, "list", None).unwrap(), json!([]));
    }

    #[test]
    fn a_lease_without_renewals_runs_out() {
        let r = Registry::with_lease_ttl(Duration::from_millis(200));
        let renewed = token_of(&r.call(1, "bind", Some(&json!({"name": "kept", "address": "127.0.0.1:9", "lease": true}))).unwrap());
        r.call(2, "bind", Some(&json!({"name": "idle", "address": "127.0.0.1:9", "lease": true}))).unwrap();
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(60));
            r.call(1, "renew", Some(&json!(["kept", renewed]))).unwrap();
        }
        assert_eq!(r.call(3, "list", None).unwrap(), json!(["kept"]));
        assert_eq!(r.call(2, "renew", Some(&json!({"name": "idle", "token": "x"}))).unwrap_err().code, NOT_BOUND);
    }

    #[test]
    fn a_stale_binding_is_replaced() {
        let r = Registry::new();
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
        r.call(1, "bind", Some(&json!(["x", closed]))).unwrap();
        let live = TcpListener::bind("127.0.0.1:0").unwrap();
        let live_addr = live.local_addr().unwrap().to_string();
        r.call(2, "bind", Some(&json!(["x", live_addr]))).unwrap();
        assert_eq!(r.call(3, "bind", Some(&json!(["x", closed]))).unwrap_err().code, ALREADY_BOUND);
    }

    #[test]
    fn bad_params_are_invalid_params() {
        let r = Registry::new();
        for p in [
            json!([]),
            json!([1, "127.0.0.1:1"]),
            json!(["a/b", "127.0.0.1:1"]),
            json!(["a", "nowhere"]),
            json!(["a", "127.0.0.1:1", 3]),
            json!(["a", "127.0.0.1:1", true, 7]),
        ] {
            assert_eq!(r.call(1, "bind", Some(&p)).unwrap_err().code, super::super::protocol::INVALID_PARAMS, "{p}");
        }
        assert_eq!(r.call(1, "renew", Some(&json!(["a"]))).unwrap_err().code, super::super::protocol::INVALID_PARAMS);
    }
}
