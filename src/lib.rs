//! distlab: a scenario runner for the classic distributed-systems algorithms.
//!
//! A scenario file ([`scenario`]) names an algorithm ([`algorithms`]), the
//! nodes, the network, the clocks and a timeline of faults and requests. The
//! [`engine`] runs the algorithm's sans-IO [`process::Process`] nodes on a
//! deterministic discrete-event loop, streams a [`trace`] to a renderer, and
//! [`check`]s invariants and expectations; [`snapshot`] compares the trace with
//! its stored snapshot. [`rmi`] and [`tools`] are the seed labs' programs
//! that are not algorithms: remote objects, a multicast chat, file IPC.
//!
//! ```no_run
//! let plan = distlab::scenario::load("scenarios/election/seed-ring.yaml".as_ref()).unwrap();
//! let report = (plan.algorithm.run)(&plan, &Default::default(), &mut std::io::stdout()).unwrap();
//! assert!(report.passed());
//! ```

pub mod algorithms;
pub mod bench;
pub mod check;
pub mod engine;
pub mod live;
pub mod process;
pub mod report;
pub mod rmi;
pub mod scenario;
pub mod snapshot;
pub mod tools;
pub mod trace;
pub mod transport;

pub use process::{Ctx, Message, Nanos, NodeId, Observation, Process};
