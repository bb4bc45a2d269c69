//! `distlab rmi`: remote method invocation over TCP with JSON-RPC 2.0, one
//! JSON object per line — a registry (`registry`), a calculator object bound
//! in it (`serve`), a client call (`call`) and the registry's names (`list`).
//! The protocol is in [`distlab::rmi`]; this file parses the options, prints
//! and maps failures to exit codes.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use clap::{Args, Subcommand};
use distlab::rmi::client::{self, ClientError, RmiUrl};
use distlab::rmi::net::Limits;
use distlab::rmi::registry::{self, DEFAULT_LEASE_TTL, DEFAULT_PORT};
use distlab::rmi::server::{self, ServeError, ServeOptions, fmt_num};
use serde_json::Value;

use crate::Outcome;

const AFTER_HELP: &str = "\
The seed lab's Java RMI programs, over TCP with JSON-RPC 2.0 (one JSON object
per line), so that any language can call the objects with a socket and a JSON
library. Everything listens on 127.0.0.1 unless --host says otherwise.

Examples (three terminals):
  distlab rmi registry                                  registry on 127.0.0.1:1878
  distlab rmi serve --name hello                        a calculator bound as \"hello\"
  distlab rmi call rmi://127.0.0.1:1878/hello sqrt 16   prints 4
  distlab rmi list                                      prints hello

By hand, from bash:
  exec 3<>/dev/tcp/127.0.0.1/1878
  echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"list\"}' >&3; head -n1 <&3

The protocol, every method and the error codes: docs/rmi.md.";

#[derive(Args)]
#[command(after_help = AFTER_HELP)]
pub struct RmiArgs {
    #[command(subcommand)]
    pub command: RmiCommand,
}

#[derive(Subcommand)]
pub enum RmiCommand {
    /// Run a registry (name -> server address) until killed.
    Registry(RegistryArgs),
    /// Run a calculator object server, bound in a registry, until killed.
    Serve(ServeArgs),
    /// Look an object up and call one of its methods; print the result.
    Call(CallArgs),
    /// Print the names bound in a registry.
    List(ListArgs),
}

#[derive(Args)]
#[command(after_help = "\
Prints `registry listening on HOST:PORT` once it accepts connections (with
--port 0 the kernel picks the port), then one line per bind and unbind. Runs
until killed (Ctrl-C). Names bound by `distlab rmi serve` are unbound when
their server exits, or when it stops renewing its lease for --lease-ttl.
Only a request keeps a connection open (not a blank line); when the registry
is full, a new client closes the longest-idle connection instead of being
turned away.

Examples:
  distlab rmi registry                     127.0.0.1:1878, as in the seed
  distlab rmi registry --port 0            any free port (printed)
  distlab rmi registry --lease-ttl 5 --idle-timeout 10 --max-per-client 4

Exit codes: 2 if it cannot listen (port in use, bad address).")]
pub struct RegistryArgs {
    /// Port to listen on (0: the kernel picks one).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Address to listen on; the default accepts only local connections.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Seconds a lease lasts without a renewal (`distlab rmi serve` renews
    /// every third of it).
    #[arg(long, default_value_t = DEFAULT_LEASE_TTL.as_secs_f64(), value_parser = parse_secs, value_name = "SECS")]
    pub lease_ttl: f64,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The bounds on the connections a registry or an object server accepts.
#[derive(Args)]
pub struct LimitArgs {
    /// Connections open at once; when full, a new one closes the longest-idle.
    #[arg(long, default_value_t = Limits::default().max_connections as u16, value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    pub max_connections: u16,
    /// Connections open at once from one IP address.
    #[arg(long, default_value_t = Limits::default().max_per_client as u16, value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    pub max_per_client: u16,
    /// Seconds a connection may go without a request before it is closed
    /// (blank lines do not count).
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs_f64(), value_parser = parse_secs, value_name = "SECS")]
    pub idle_timeout: f64,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_connections: usize::from(self.max_connections),
            max_per_client: usize::from(self.max_per_client),
            idle_timeout: Duration::from_secs_f64(self.idle_timeout),
            ..Limits::default()
        }
    }
}

#[derive(Args)]
#[command(after_help = "\
Listens (by default on a port the kernel picks), binds NAME in the registry,
prints `server listening on HOST:PORT as \"NAME\" in rmi://REGISTRY`, then one
line per call as the seed does (`Square Root of 16 is: 4`). Renews its lease
in the registry every third of the lease's time. Runs until killed (Ctrl-C);
the registry then unbinds NAME by itself.

Methods: sqrt x, calculateSquareRoot x (the seed's name), add a b, sub a b,
mul a b, div a b, pow base exponent, methods.

Examples:
  distlab rmi serve                                         \"hello\" in 127.0.0.1:1878
  distlab rmi serve --registry rmi://127.0.0.1:1878 --name calc
  distlab rmi serve --name hello --rebind                   replace a binding

--rebind replaces a binding made without a lease, or one whose lease ran
out; a name held by a running server's lease cannot be taken (LeaseHeld).

Exit codes: 2 if the registry is unreachable or busy, NAME is already bound
(AlreadyBound, LeaseHeld), or it cannot listen.")]
pub struct ServeArgs {
    /// The registry to bind in: rmi://host:port (port 1878 if omitted).
    #[arg(long, default_value = "rmi://127.0.0.1:1878", value_name = "URL")]
    pub registry: String,
    /// The name to bind the object under.
    #[arg(long, default_value = "hello")]
    pub name: String,
    /// Port to listen on (0: the kernel picks one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to listen on; the default accepts only local connections.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Replace NAME if it is already bound, instead of failing.
    #[arg(long)]
    pub rebind: bool,
    /// Seconds to wait for the registry.
    #[arg(long, default_value_t = 10.0, value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Args)]
#[command(after_help = "\
Looks NAME up in the registry of URL, connects to the server it names, sends
one JSON-RPC request with ARGS as positional params and prints the result.
Each ARG is read as JSON when it is JSON (16, -1, 2.5, true, \"16\") and as a
string otherwise.

Examples:
  distlab rmi call rmi://127.0.0.1:1878/hello sqrt 16          4
  distlab rmi call rmi://127.0.0.1:1878/hello pow 2 10         1024
  distlab rmi call rmi://127.0.0.1:1878/hello div 1 4          0.25
  distlab rmi call rmi://127.0.0.1:1878/hello methods

Exit codes: 0 the result is printed; 1 the object answered with an error
(DomainError such as sqrt -1 or a division by zero, MethodNotFound,
InvalidParams); 2 the call could not be made (bad URL, registry unreachable
or busy, name not bound, server gone or busy, timeout).")]
pub struct CallArgs {
    /// rmi://host:port/name of the object.
    pub url: String,
    /// The method to call (sqrt, add, sub, mul, div, pow, calculateSquareRoot, methods).
    pub method: String,
    /// The arguments, in order.
    #[arg(allow_negative_numbers = true)]
    pub args: Vec<String>,
    /// Print the whole JSON result instead of a plain number.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for each connection and answer.
    #[arg(long, default_value_t = 10.0, value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
}

#[derive(Args)]
#[command(after_help = "\
Examples:
  distlab rmi list                                hello
  distlab rmi list rmi://127.0.0.1:1878 --long    hello  127.0.0.1:40123

Exit codes: 2 if the registry is unreachable.")]
pub struct ListArgs {
    /// The registry: rmi://host:port (port 1878 if omitted).
    #[arg(default_value = "rmi://127.0.0.1:1878", value_name = "URL")]
    pub registry: String,
    /// Also print the address each name is bound to.
    #[arg(long, short)]
    pub long: bool,
    /// Seconds to wait for the registry.
    #[arg(long, default_value_t = 10.0, value_parser = parse_secs, value_name = "SECS")]
    pub timeout: f64,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 3600.0 => Ok(x),
        _ => Err(format!("expected a number of seconds from 0 to 3600, found {s:?}")),
    }
}

pub fn run(args: RmiArgs) -> anyhow::Result<Outcome> {
    match args.command {
        RmiCommand::Registry(a) => run_registry(a),
        RmiCommand::Serve(a) => run_serve(a),
        RmiCommand::Call(a) => run_call(a),
        RmiCommand::List(a) => run_list(a),
    }
}

fn run_registry(args: RegistryArgs) -> anyhow::Result<Outcome> {
    let want = SocketAddr::new(args.host, args.port);
    let listener = match TcpListener::bind(want) {
        Ok(l) => l,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse { " (another registry? try --port 0)" } else { "" };
            eprintln!("distlab rmi registry: cannot listen on {want}: {e}{hint}");
            return Ok(Outcome::BadInput);
        }
    };
    let address = listener.local_addr()?;
    println!("registry listening on {address}");
    std::io::stdout().flush()?;
    registry::run(listener, Duration::from_secs_f64(args.lease_ttl), args.limits.limits())
}

fn run_serve(args: ServeArgs) -> anyhow::Result<Outcome> {
    let url = match args.registry.parse::<RmiUrl>() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("distlab rmi serve: --registry {e}");
            return Ok(Outcome::BadInput);
        }
    };
    if let Err(why) = registry::check_name(&args.name) {
        eprintln!("distlab rmi serve: --name: {why}");
        return Ok(Outcome::BadInput);
    }
    let opts = ServeOptions {
        registry: url.registry(),
        name: args.name.clone(),
        host: args.host,
        port: args.port,
        rebind: args.rebind,
        timeout: Duration::from_secs_f64(args.timeout),
        limits: args.limits.limits(),
    };
    let started = match server::start(&opts) {
        Ok(s) => s,
        Err(ServeError::Registry(e @ ClientError::AlreadyBound { .. })) => {
            eprintln!("distlab rmi serve: {e}; choose another --name, or --rebind to replace it");
            return Ok(Outcome::BadInput);
        }
        Err(ServeError::Registry(e @ ClientError::LeaseHeld { .. })) => {
            eprintln!("distlab rmi serve: {e}; choose another --name, or stop that server first");
            return Ok(Outcome::BadInput);
        }
        Err(e) => {
            eprintln!("distlab rmi serve: {e}");
            return Ok(Outcome::BadInput);
        }
    };
    println!("server listening on {} as {:?} in rmi://{}", started.address, args.name, opts.registry);
    println!("The RMI_Server is running and ready...");
    std::io::stdout().flush()?;
    started.run()
}

fn run_call(args: CallArgs) -> anyhow::Result<Outcome> {
    let url = match args.url.parse::<RmiUrl>().and_then(|u| u.name().map(|_| ()).map(|()| u)) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("distlab rmi call: {e}");
            return Ok(Outcome::BadInput);
        }
    };
    let params: Vec<Value> = args.args.iter().map(|a| serde_json::from_str(a).unwrap_or_else(|_| Value::String(a.clone()))).collect();
    match client::call(&url, &args.method, params, Duration::from_secs_f64(args.timeout)) {
        Ok(result) => {
            match (&result, args.json) {
                (Value::Number(n), false) => println!("{}", n.as_f64().map_or_else(|| n.to_string(), fmt_num)),
                (Value::String(s), false) => println!("{s}"),
                (other, _) => println!("{}", serde_json::to_string_pretty(other)?),
            }
            Ok(Outcome::Ok)
        }
        Err(e) if e.is_remote() => {
            let name = url.name.as_deref().unwrap_or_default();
            eprintln!("distlab rmi call: {name}.{}({}): {e}", args.method, args.args.join(", "));
            Ok(Outcome::Failed)
        }
        Err(e) => {
            eprintln!("distlab rmi call: {e}");
            Ok(Outcome::BadInput)
        }
    }
}

fn run_list(args: ListArgs) -> anyhow::Result<Outcome> {
    let url = match args.registry.parse::<RmiUrl>() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("distlab rmi list: {e}");
            return Ok(Outcome::BadInput);
        }
    };
    let timeout = Duration::from_secs_f64(args.timeout);
    let registry = url.registry();
    let names = match client::list(&registry, timeout) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("distlab rmi list: {e}");
            return Ok(Outcome::BadInput);
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for name in &names {
        if args.long {
            // A name unbound since the listing is shown as such, not an error.
            let address = client::lookup(&registry, name, timeout).map_or_else(|_| "(unbound)".to_string(), |a| a.to_string());
            writeln!(out, "{name}  {address}")?;
        } else {
            writeln!(out, "{name}")?;
        }
    }
    Ok(Outcome::Ok)
}
