//! The registry: a name service mapping object names to the `host:port` of
//! the server that holds the object, like Java's `rmiregistry` on port 1878 in
//! the seed lab.
//!
//! Methods (params by position or by name):
//!
//! | method   | params                              | result                          |
//! |----------|-------------------------------------|---------------------------------|
//! | `bind`   | `name`, `address`, `lease` (false)  | `{"name", "address"}`           |
//! | `rebind` | `name`, `address`, `lease` (false)  | `{"name", "address"}`           |
//! | `unbind` | `name`                              | `{"name", "address"}` (removed) |
//! | `lookup` | `name`                              | `"127.0.0.1:40123"`             |
//! | `list`   | —                                   | `["calc", "hello"]` (sorted)    |
//!
//! `bind` of a bound name fails with `AlreadyBound` (-32001) — unless the
//! binding is stale: bound without a lease and its server no longer accepts
//! connections, in which case it is replaced. `lookup` and `unbind` of an
//! unbound name fail with `NotBound` (-32002), whose `data.bound` lists the
//! names there are. A binding made with `"lease": true` lasts as long as the
//! connection that made it: when that connection closes (the server exits or
//! is killed), the name is unbound. `distlab rmi serve` binds with a lease.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};

use super::net::{self, ConnId, Limits, Service};
use super::protocol::{ALREADY_BOUND, NOT_BOUND, RpcError, kind, param};

/// The registry's methods.
pub const METHODS: &[&str] = &["bind", "rebind", "unbind", "lookup", "list"];

/// The port the seed's registry listens on.
pub const DEFAULT_PORT: u16 = 1878;

/// How long `bind` waits to learn whether a bound server is still there.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Binding {
    address: SocketAddr,
    /// The connection whose closing unbinds the name.
    lease: Option<ConnId>,
    /// Tells two bindings of the same name and address apart.
    serial: u64,
}

#[derive(Default)]
struct Table {
    names: BTreeMap<String, Binding>,
    serial: u64,
}

/// The registry's state; a [`Service`] for [`net::serve`].
#[derive(Default)]
pub struct Registry {
    table: Mutex<Table>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The bound names with their addresses, sorted by name.
    pub fn bindings(&self) -> Vec<(String, SocketAddr)> {
        self.lock().names.iter().map(|(n, b)| (n.clone(), b.address)).collect()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic in another connection's thread leaves the map consistent.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn not_bound(&self, name: &str) -> RpcError {
        let bound: Vec<String> = self.lock().names.keys().cloned().collect();
        let listing = if bound.is_empty() { "nothing is bound".to_string() } else { format!("bound: {}", bound.join(", ")) };
        RpcError::new(NOT_BOUND, format!("{name:?} is not bound; {listing}")).with_data(json!({ "name": name, "bound": bound }))
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
        let existing = self.lock().names.get(&name).cloned();
        let mut replaced = None;
        if let Some(old) = &existing
            && !replace
        {
            // A binding without a lease may outlive its server: probe it
            // (without holding the lock) and replace it if nothing answers.
            let stale = old.lease.is_none() && TcpStream::connect_timeout(&old.address, PROBE_TIMEOUT).is_err();
            if !stale {
                return Err(already_bound(&name, old.address));
            }
            replaced = Some(old.address);
        }
        let mut table = self.lock();
        if !replace && table.names.get(&name) != existing.as_ref() {
            let now = table.names.get(&name).map(|b| b.address);
            return Err(match now {
                Some(a) => already_bound(&name, a),
                None => RpcError::new(ALREADY_BOUND, format!("{name:?} changed while binding; try again")),
            });
        }
        table.serial += 1;
        let binding = Binding { address, lease: lease.then_some(conn), serial: table.serial };
        let previous = table.names.insert(name.clone(), binding);
        drop(table);
        match (replaced, previous) {
            (Some(old), _) => println!("registry: bound {name} -> {address} (replacing stale {old})"),
            (None, Some(old)) => println!("registry: rebound {name} -> {address} (was {})", old.address),
            (None, None) => println!("registry: bound {name} -> {address}"),
        }
        Ok(json!({ "name": name, "address": address.to_string() }))
    }

    fn unbind(&self, params: Option<&Value>) -> Result<Value, RpcError> {
        let name = name_param(params)?;
        let removed = self.lock().names.remove(&name);
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

fn already_bound(name: &str, address: SocketAddr) -> RpcError {
    RpcError::new(ALREADY_BOUND, format!("{name:?} is already bound (to {address})"))
        .with_data(json!({ "name": name, "address": address.to_string() }))
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
            "unbind" => self.unbind(params),
            "lookup" => self.lookup(params),
            "list" => Ok(json!(self.lock().names.keys().collect::<Vec<_>>())),
            _ => Err(RpcError::method_not_found(method, METHODS)),
        }
    }

    fn keeps_open(&self, conn: ConnId) -> bool {
        self.lock().names.values().any(|b| b.lease == Some(conn))
    }

    fn closed(&self, conn: ConnId) {
        let mut table = self.lock();
        let gone: Vec<String> = table.names.iter().filter(|(_, b)| b.lease == Some(conn)).map(|(n, _)| n.clone()).collect();
        for name in gone {
            if let Some(b) = table.names.remove(&name) {
                println!("registry: unbound {name} ({}): its server disconnected", b.address);
            }
        }
    }
}

/// Serves a registry on `listener` forever.
pub fn run(listener: TcpListener) -> ! {
    net::serve(listener, Arc::new(Registry::new()), Limits::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_lookup_list_unbind() {
        let r = Registry::new();
        let p = json!(["hello", "127.0.0.1:9"]);
        // A leased binding is never probed, so nothing needs to listen.
        let leased = json!({"name": "hello", "address": "127.0.0.1:9", "lease": true});
        r.call(1, "bind", Some(&leased)).unwrap();
        assert_eq!(r.call(2, "bind", Some(&p)).unwrap_err().code, ALREADY_BOUND);
        assert_eq!(r.call(2, "lookup", Some(&json!(["hello"]))).unwrap(), json!("127.0.0.1:9"));
        assert_eq!(r.call(2, "list", None).unwrap(), json!(["hello"]));
        assert!(r.keeps_open(1) && !r.keeps_open(2));
        let e = r.call(2, "lookup", Some(&json!({"name": "hallo"}))).unwrap_err();
        assert_eq!((e.code, e.data.unwrap()["bound"].clone()), (NOT_BOUND, json!(["hello"])));
        r.closed(1);
        assert_eq!(r.call(2, "list", None).unwrap(), json!([]));
        r.call(2, "rebind", Some(&p)).unwrap();
        r.call(2, "unbind", Some(&json!(["hello"]))).unwrap();
        assert_eq!(r.call(2, "unbind", Some(&json!(["hello"]))).unwrap_err().code, NOT_BOUND);
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
        for p in
            [json!([]), json!([1, "127.0.0.1:1"]), json!(["a/b", "127.0.0.1:1"]), json!(["a", "nowhere"]), json!(["a", "127.0.0.1:1", 3])]
        {
            assert_eq!(r.call(1, "bind", Some(&p)).unwrap_err().code, super::super::protocol::INVALID_PARAMS, "{p}");
        }
    }
}
