//! The algorithms, one file each, grouped by family, and the registry that
//! maps scenario names to them.

pub mod balance;
pub mod clock;
pub mod election;
pub mod multicast;
pub mod mutex;
pub mod registry;
pub mod rpc;
