//! Remote method invocation over TCP with JSON-RPC 2.0 framing: what the seed
//! lab's Java RMI programs do (a registry on port 1878 binds "hello" to an
//! object whose `calculateSquareRoot` a client calls after
//! `Naming.lookup("rmi://localhost:1878/hello")`), in a protocol any language
//! can speak with a socket and a JSON library.
//!
//! - [`protocol`]: the JSON-RPC 2.0 messages, one per line, and the error codes.
//! - [`registry`]: the name service (`bind`, `rebind`, `unbind`, `lookup`, `list`).
//! - [`server`]: the calculator object server, which binds itself in a registry.
//! - [`client`]: `rmi://host:port/name` URLs, lookup and call with timeouts.
//! - [`net`]: the bounded thread-per-connection line server both servers use.
//!
//! Everything listens on 127.0.0.1 unless told otherwise. `docs/rmi.md` has
//! the protocol with an example per method and the `distlab rmi` commands.

pub mod client;
pub mod net;
pub mod protocol;
pub mod registry;
pub mod server;
