//! How much memory a scenario's run will hold, estimated before it starts, and
//! the limit above which the loader refuses it with a located error (instead
//! of the process aborting on a failed allocation half-way through building
//! ten million nodes). `--max-memory` raises or lifts the limit.
//!
//! The estimate is the run's standing state: the engine's tables and every
//! node's process, which grow with the number of nodes `n` — linearly for most
//! algorithms, as `n²` for those whose nodes keep a value per other node
//! (vector clocks, Suzuki-Kasami's arrays, the multicast groups' sequence
//! numbers, a load balancer's view of every server), as `n√n` for Maekawa's
//! quorums. The per-node and per-pair figures in [`footprint`] are measured
//! peaks with headroom (tests/robustness checks that each estimate stays above
//! the measured peak and within a small factor of it). Messages in flight are
//! not part of it: they depend on what the run does, and the event limit
//! bounds them.

use std::fmt;

use crate::algorithms::registry::Algorithm;
use crate::process::NodeId;

/// A memory limit in bytes; `None` is no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLimit(pub Option<u64>);

/// The limit unless `--max-memory` says otherwise: 4 GiB.
pub const DEFAULT_MAX_MEMORY: MemoryLimit = MemoryLimit(Some(4 << 30));

impl Default for MemoryLimit {
    fn default() -> MemoryLimit {
        DEFAULT_MAX_MEMORY
    }
}

impl MemoryLimit {
    /// `4GiB`, `512MiB`, `512M`, `1.5G`, `1048576` (bytes), or `unlimited`.
    /// K, M, G and T are powers of 1024, with or without `iB` or `B`.
    pub fn parse(text: &str) -> Result<MemoryLimit, String> {
        let t = text.trim();
        if matches!(t.to_ascii_lowercase().as_str(), "unlimited" | "none" | "off") {
            return Ok(MemoryLimit(None));
        }
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, unit) = (&t[..split], t[split..].trim());
        let shift = match unit.to_ascii_lowercase().trim_end_matches("ib").trim_end_matches('b') {
            "" => 0,
            "k" => 10,
            "m" => 20,
            "g" => 30,
            "t" => 40,
            _ => return Err(format!("unknown unit {unit:?} in {text:?}: expected a size like 4GiB, 512MiB or 1048576, or unlimited")),
        };
        let value: f64 =
            number.parse().map_err(|_| format!("expected a size like 4GiB, 512MiB or 1048576, or unlimited, found {text:?}"))?;
        let bytes = value * (1u64 << shift) as f64;
        if !(bytes.is_finite() && bytes >= 1.0 && bytes < 2f64.powi(63)) {
            return Err(format!("{text:?} is out of range: expected at least 1 byte"));
        }
        Ok(MemoryLimit(Some(bytes as u64)))
    }
}

impl fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("unlimited"),
            Some(b) => f.write_str(&human(b)),
        }
    }
}

/// `6.0 GiB`, `512 MiB`, `700 B`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Bytes a run holds for each node, each pair of nodes, and each node times
/// the square root of the node count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    pub per_node: u64,
    pub per_pair: u64,
    pub per_node_sqrt: u64,
}

/// The engine's and the process's bytes per node, for the algorithms whose
/// nodes keep nothing per other node (measured: 200 to 470).
const PER_NODE: u64 = 640;

/// What `a`'s nodes hold (see the module documentation).
pub fn footprint(a: &Algorithm) -> Footprint {
    let linear = Footprint { per_node: PER_NODE, per_pair: 0, per_node_sqrt: 0 };
    match (a.family, a.name) {
        // Each node's group state keeps a counter per member (measured 18 to 22).
        ("multicast", _) => Footprint { per_pair: 28, ..linear },
        // Every node's ring holds 100 points per server (measured 17 per pair).
        (_, "balance.consistent-hash") => Footprint { per_node: PER_NODE + 3200, per_pair: 24, ..linear },
        // A view of every server (measured 8.4), a vector clock, RN[] (8.2).
        ("balance", _) | (_, "clock.vector" | "mutex.suzuki-kasami") => Footprint { per_pair: 12, ..linear },
        // Quorums of about 2√n members (measured 11 per node and √n).
        (_, "mutex.maekawa") => Footprint { per_node_sqrt: 24, ..linear },
        _ => linear,
    }
}

/// What a run is estimated to hold, and how the figure was reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estimate {
    pub bytes: u64,
    pub how: String,
}

/// A fixed allowance for the engine, the checkers and the trace buffers.
const BASE: u64 = 1 << 20;

/// The estimate for `nodes` of algorithm `a`.
pub fn estimate(a: &Algorithm, nodes: &[NodeId]) -> Estimate {
    let f = footprint(a);
    let n = nodes.len() as u128;
    let max_id = nodes.iter().copied().max().map_or(0, u128::from);
    let sqrt = (n as f64).sqrt().ceil() as u128;
    // The id -> node index table has one u32 per id up to the highest.
    let total = u128::from(BASE)
        + n * u128::from(f.per_node)
        + n * n * u128::from(f.per_pair)
        + n * sqrt * u128::from(f.per_node_sqrt)
        + (max_id + 1) * 4;
    let mut how = format!("{} per node", human(f.per_node));
    if f.per_pair > 0 {
        how.push_str(&format!(" and {} per pair of nodes", human(f.per_pair)));
    }
    if f.per_node_sqrt > 0 {
        how.push_str(&format!(" and {} per node times √n", human(f.per_node_sqrt)));
    }
    Estimate { bytes: u64::try_from(total).unwrap_or(u64::MAX), how }
}

/// Why a plan is over the limit, as a message for the `nodes:` value; `None`
/// when it fits.
pub fn over_limit(a: &Algorithm, nodes: &[NodeId], limit: MemoryLimit) -> Option<String> {
    let max = limit.0?;
    let e = estimate(a, nodes);
    if e.bytes <= max {
        return None;
    }
    let suggest = human(e.bytes.div_ceil(1 << 30).saturating_mul(1 << 30));
    Some(format!(
        "{} nodes of {} would need about {} of memory ({}), more than the limit of {}: use fewer nodes, or raise the limit with --max-memory {} (or --max-memory unlimited)",
        nodes.len(),
        a.name,
        human(e.bytes),
        e.how,
        human(max),
        suggest.replace(' ', "")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::registry;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(MemoryLimit::parse("4GiB"), Ok(MemoryLimit(Some(4 << 30))));
        assert_eq!(MemoryLimit::parse("512 MiB"), Ok(MemoryLimit(Some(512 << 20))));
        assert_eq!(MemoryLimit::parse("1.5G"), Ok(MemoryLimit(Some(3 << 29))));
        assert_eq!(MemoryLimit::parse("64k"), Ok(MemoryLimit(Some(64 << 10))));
        assert_eq!(MemoryLimit::parse("1048576"), Ok(MemoryLimit(Some(1 << 20))));
        assert_eq!(MemoryLimit::parse("unlimited"), Ok(MemoryLimit(None)));
        for bad in ["", "4 parsecs", "-1G", "0", "1e99G", "G"] {
            assert!(MemoryLimit::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(human(6 << 30), "6 GiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
        assert_eq!(human(700), "700 B");
        assert_eq!(DEFAULT_MAX_MEMORY.to_string(), "4 GiB");
    }

    #[test]
    fn ten_million_nodes_are_over_the_default_and_ten_thousand_are_not() {
        let ring = registry::find("election.ring").unwrap();
        let ids: Vec<NodeId> = (1..=10_000_000).collect();
        let m = over_limit(ring, &ids, DEFAULT_MAX_MEMORY).expect("over");
        assert!(m.starts_with("10000000 nodes of election.ring would need about 6.0 GiB of memory (640 B per node)"), "{m}");
        assert!(m.contains("more than the limit of 4 GiB") && m.contains("--max-memory 6GiB"), "{m}");
        assert_eq!(over_limit(ring, &ids, MemoryLimit(None)), None);
        assert_eq!(over_limit(ring, &ids[..10_000], DEFAULT_MAX_MEMORY), None);
        // Quadratic: 20,000 multicast members are too many, 10,000 are not.
        let basic = registry::find("multicast.basic").unwrap();
        let many: Vec<NodeId> = (1..=20_000).collect();
        assert!(over_limit(basic, &many, DEFAULT_MAX_MEMORY).is_some());
        assert_eq!(over_limit(basic, &many[..10_000], DEFAULT_MAX_MEMORY), None);
    }
}
