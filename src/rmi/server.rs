//! The object server: a calculator object — the seed's `calculateSquareRoot`
//! grown into `sqrt`, `add`, `sub`, `mul`, `div` and `pow` — served over
//! JSON-RPC and bound in a registry under a name.
//!
//! Parameters are positional numbers (`"params": [16]`, `[2, 10]`); the result
//! is a number. Errors: `MethodNotFound` (-32601) for an unknown method,
//! `InvalidParams` (-32602) for a wrong count or a non-number, `DomainError`
//! (-32000) for the square root of a negative number, a division by zero, or
//! a result too large to represent — never `NaN` or infinity. Each call is
//! printed as the seed prints it: `Square Root of 16 is: 4`.
//!
//! [`start`] listens (port 0: the kernel picks one), then binds the name in
//! the registry with a lease, so that the name is unbound when this process
//! exits, however it exits; [`Started::run`] renews the lease and serves
//! forever.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::client::{self, ClientError, Lease};
use super::net::{self, ConnId, Limits, Service};
use super::protocol::{RpcError, kind};

/// The calculator's methods: name, parameter names, what it does.
pub const METHODS: &[(&str, &[&str], &str)] = &[
    ("sqrt", &["x"], "square root of x (x >= 0)"),
    ("calculateSquareRoot", &["x"], "the seed's name for sqrt"),
    ("add", &["a", "b"], "a + b"),
    ("sub", &["a", "b"], "a - b"),
    ("mul", &["a", "b"], "a * b"),
    ("div", &["a", "b"], "a / b (b != 0)"),
    ("pow", &["base", "exponent"], "base raised to exponent"),
    ("methods", &[], "the list of methods"),
];

fn method_names() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.0).collect()
}

/// Formats a number as the server and the CLI print it: `4`, `0.25`,
/// `1.4142135623730951`, `1e300`.
pub fn fmt_num(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e16 || x.abs() < 1e-6) { format!("{x:e}") } else { format!("{x}") }
}

/// Evaluates `method` on `args` (already checked to be the right count).
pub fn eval(method: &str, args: &[f64]) -> Result<f64, RpcError> {
    let result = match (method, args) {
        ("sqrt" | "calculateSquareRoot", &[x]) => {
            if x < 0.0 {
                return Err(RpcError::domain(format!("square root of a negative number: {}", fmt_num(x))).with_data(json!({ "x": x })));
            }
            x.sqrt()
        }
        ("add", &[a, b]) => a + b,
        ("sub", &[a, b]) => a - b,
        ("mul", &[a, b]) => a * b,
        ("div", &[a, b]) => {
            if b == 0.0 {
                return Err(RpcError::domain(format!("division by zero: {} / 0", fmt_num(a))).with_data(json!({ "a": a, "b": b })));
            }
            a / b
        }
        ("pow", &[a, b]) => a.powf(b),
        _ => return Err(RpcError::method_not_found(method, &method_names())),
    };
    if result.is_finite() {
        Ok(result)
    } else if result.is_nan() {
        Err(RpcError::domain(format!("{method} of {} has no real result", args.iter().map(|a| fmt_num(*a)).collect::<Vec<_>>().join(", "))))
    } else {
        Err(RpcError::domain(format!(
            "{method} of {} is too large to represent",
            args.iter().map(|a| fmt_num(*a)).collect::<Vec<_>>().join(", ")
        )))
    }
}

/// The seed-style line for a call: `Square Root of 16 is: 4`.
fn describe(method: &str, args: &[f64]) -> String {
    let n = |i: usize| args.get(i).map_or_else(String::new, |x| fmt_num(*x));
    match method {
        "sqrt" | "calculateSquareRoot" => format!("Square Root of {}", n(0)),
        "add" => format!("Sum of {} and {}", n(0), n(1)),
        "sub" => format!("Difference of {} and {}", n(0), n(1)),
        "mul" => format!("Product of {} and {}", n(0), n(1)),
        "div" => format!("Quotient of {} and {}", n(0), n(1)),
        "pow" => format!("{} to the power of {}", n(0), n(1)),
        _ => method.to_string(),
    }
}

/// The calculator object.
pub struct Calculator {
    /// Print each call on stdout.
    pub echo: bool,
}

impl Calculator {
    fn args(method: &str, names: &[&str], params: Option<&Value>) -> Result<Vec<f64>, RpcError> {
        let expected = || {
            let s = if names.len() == 1 { "" } else { "s" };
            format!(
                "{method} expects {} number{s} ({}), e.g. \"params\": [{}]",
                names.len(),
                names.join(", "),
                ["2"; 2][..names.len()].join(", ")
            )
        };
        let list = match params {
            None => &Vec::new(),
            Some(Value::Array(a)) => a,
            Some(Value::Object(o)) => {
                // Named params are accepted too: {"x": 16}, {"a": 2, "b": 3}.
                let mut v = Vec::new();
                for name in names {
                    v.push(o.get(*name).cloned().ok_or_else(|| RpcError::invalid_params(format!("{}: no {name:?} given", expected())))?);
                }
                return Self::numbers(&v, expected);
            }
            Some(other) => return Err(RpcError::invalid_params(format!("{}, found {}", expected(), kind(other)))),
        };
        if list.len() != names.len() {
            return Err(RpcError::invalid_params(format!(
                "{}, found {} argument{}",
                expected(),
                list.len(),
                if list.len() == 1 { "" } else { "s" }
            )));
        }
        Self::numbers(list, expected)
    }

    fn numbers(values: &[Value], expected: impl Fn() -> String) -> Result<Vec<f64>, RpcError> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_f64().ok_or_else(|| {
                    RpcError::invalid_params(format!("{}: argument {} is {} ({v}), not a number", expected(), i + 1, kind(v)))
                        .with_data(json!({ "argument": i + 1, "found": v }))
                })
            })
            .collect()
    }
}

impl Service for Calculator {
    fn label(&self) -> &str {
        "server"
    }

    fn call(&self, _conn: ConnId, method: &str, params: Option<&Value>) -> Result<Value, RpcError> {
        if method == "methods" {
            return Ok(json!(METHODS.iter().map(|(m, p, d)| json!({ "name": m, "params": p, "doc": d })).collect::<Vec<_>>()));
        }
        let Some((_, names, _)) = METHODS.iter().find(|m| m.0 == method) else {
            return Err(RpcError::method_not_found(method, &method_names()));
        };
        let args = Self::args(method, names, params)?;
        let outcome = eval(method, &args);
        if self.echo {
            match &outcome {
                Ok(r) => println!("{} is: {}", describe(method, &args), fmt_num(*r)),
                Err(e) => println!("{} failed: {}", describe(method, &args), e.message),
            }
        }
        outcome.map(|r| json!(r))
    }
}

/// Why an object server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Registry(#[from] ClientError),
}

/// What an object server needs to start.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The registry's `host:port`.
    pub registry: String,
    pub name: String,
    pub host: IpAddr,
    /// 0: the kernel picks.
    pub port: u16,
    /// Replace an existing binding instead of failing with AlreadyBound.
    pub rebind: bool,
    pub timeout: Duration,
    /// The bounds on the connections this server accepts.
    pub limits: Limits,
}

/// A server that listens and whose name is bound.
pub struct Started {
    listener: TcpListener,
    /// Where it listens (the address it is bound under in the registry).
    pub address: SocketAddr,
    lease: Lease,
    limits: Limits,
}

/// Listens, then binds the name in the registry (with a lease).
pub fn start(opts: &ServeOptions) -> Result<Started, ServeError> {
    let want = SocketAddr::new(opts.host, opts.port);
    let listener = TcpListener::bind(want).map_err(|source| ServeError::Listen { address: want, source })?;
    let mut address = listener.local_addr().map_err(|source| ServeError::Listen { address: want, source })?;
    if address.ip().is_unspecified() {
        // Listening on every interface: register the loopback address.
        address.set_ip(if address.is_ipv4() { IpAddr::from([127, 0, 0, 1]) } else { IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]) });
    }
    let lease = client::bind_leased(&opts.registry, &opts.name, address, opts.rebind, opts.timeout)?;
    Ok(Started { listener, address, lease, limits: opts.limits.clone() })
}

impl Started {
    /// Serves calls forever, printing each one, while a thread renews the
    /// lease. If the name is lost (another server took it after the lease
    /// ran out), says so on stderr and goes on serving.
    pub fn run(self) -> ! {
        let Started { listener, lease, limits, .. } = self;
        let _ = std::thread::Builder::new().name("lease".into()).spawn(move || {
            let (name, registry) = (lease.name.clone(), lease.registry.clone());
            let e = lease.keep();
            eprintln!("server: {e}; {name:?} is no longer bound to this server in the registry at {registry}");
        });
        net::serve(listener, Arc::new(Calculator { echo: true }), limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rmi::protocol::{DOMAIN_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND};

    fn call(method: &str, params: Value) -> Result<Value, RpcError> {
        Calculator { echo: false }.call(1, method, Some(&params))
    }

    #[test]
    fn the_methods_compute() {
        assert_eq!(call("sqrt", json!([16])).unwrap(), json!(4.0));
        assert_eq!(call("calculateSquareRoot", json!({"x": 2.25})).unwrap(), json!(1.5));
        assert_eq!(call("add", json!([2, 3])).unwrap(), json!(5.0));
        assert_eq!(call("sub", json!([2, 3])).unwrap(), json!(-1.0));
        assert_eq!(call("mul", json!([6, 7])).unwrap(), json!(42.0));
        assert_eq!(call("div", json!([1, 4])).unwrap(), json!(0.25));
        assert_eq!(call("pow", json!({"base": 2, "exponent": 10})).unwrap(), json!(1024.0));
    }

    #[test]
    fn errors_are_errors_not_nan() {
        assert_eq!(call("sqrt", json!([-1])).unwrap_err().code, DOMAIN_ERROR);
        assert_eq!(call("div", json!([1, 0])).unwrap_err().code, DOMAIN_ERROR);
        assert_eq!(call("pow", json!([10, 400])).unwrap_err().code, DOMAIN_ERROR);
        assert_eq!(call("pow", json!([-8, 0.5])).unwrap_err().code, DOMAIN_ERROR);
        assert_eq!(call("sqr", json!([1])).unwrap_err().code, METHOD_NOT_FOUND);
        assert_eq!(call("sqrt", json!(["abc"])).unwrap_err().code, INVALID_PARAMS);
        assert_eq!(call("add", json!([1])).unwrap_err().code, INVALID_PARAMS);
        assert_eq!(call("add", json!({"a": 1})).unwrap_err().code, INVALID_PARAMS);
    }

    #[test]
    fn numbers_print_plainly() {
        assert_eq!(fmt_num(4.0), "4");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(-1.0), "-1");
        assert_eq!(fmt_num(1e300), "1e300");
        assert_eq!(describe("sqrt", &[16.0]), "Square Root of 16");
    }
}
