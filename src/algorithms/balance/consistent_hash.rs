//! `balance.consistent-hash` — a hash ring with virtual nodes: each server
//! owns `vnodes` points on a 64-bit ring, and a job goes to the owner of the
//! first point clockwise from its key's hash (skipping servers that are down).
//!
//! **Guarantee.** The same key always goes to the same server while the
//! rotation is unchanged (affinity: caches stay warm). When a server joins,
//! only the keys it now owns move — about 1/(N+1) of them — and all move *to*
//! it; when one leaves, only its own keys move, about 1/N. (Modulo hashing,
//! `hash % N`, would move about N/(N+1).) With v virtual nodes per server a
//! server's share deviates from 1/N by about 1/√v relative.
//!
//! **Cost.** O(log(N·v)) per lookup (binary search on the sorted ring), plus
//! skipping the points of down servers; O(N·v) memory; O(N·v log(N·v)) to
//! rebuild on a join or leave.
//!
//! **Source.** Karger et al., "Consistent Hashing and Random Trees" (STOC
//! 1997); DeCandia et al., "Dynamo" (SOSP 2007), §4.2 (virtual nodes).

use super::{Candidate, Choice, JobView, Params, Policy, mix};
use crate::process::{NodeId, NodeRng};

/// Default virtual nodes per server.
pub const DEFAULT_VNODES: u32 = 100;

/// FNV-1a over the bytes, then SplitMix's finaliser: stable on every platform.
pub fn hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// A consistent-hash ring.
#[derive(Clone, Debug)]
pub struct Ring {
    vnodes: u32,
    /// (point, server), sorted by point.
    points: Vec<(u64, NodeId)>,
}

impl Ring {
    pub fn new(vnodes: u32) -> Ring {
        Ring { vnodes: vnodes.max(1), points: Vec::new() }
    }

    /// A ring holding `servers`.
    pub fn with(vnodes: u32, servers: &[NodeId]) -> Ring {
        let mut r = Ring::new(vnodes);
        for &s in servers {
            r.add(s);
        }
        r
    }

    pub fn add(&mut self, server: NodeId) {
        if self.points.iter().any(|(_, s)| *s == server) {
            return;
        }
        for i in 0..self.vnodes {
            self.points.push((hash(&format!("server-{server}#{i}")), server));
        }
        self.points.sort_unstable();
    }

    pub fn remove(&mut self, server: NodeId) {
        self.points.retain(|(_, s)| *s != server);
    }

    /// The server owning `key`, or `None` for an empty ring.
    pub fn owner(&self, key: &str) -> Option<NodeId> {
        self.owner_among(key, |_| true).map(|(s, _)| s)
    }

    /// The first server clockwise from `key`'s hash for which `ok` holds,
    /// with the number of other servers' points skipped to reach it.
    pub fn owner_among(&self, key: &str, ok: impl Fn(NodeId) -> bool) -> Option<(NodeId, usize)> {
        let h = hash(key);
        let start = self.points.partition_point(|(p, _)| *p < h);
        let n = self.points.len();
        (0..n).map(|k| self.points[(start + k) % n].1).enumerate().find(|(_, s)| ok(*s)).map(|(k, s)| (s, k))
    }
}

pub struct ConsistentHash {
    ring: Ring,
}

impl Policy for ConsistentHash {
    fn new(servers: &[NodeId], params: &Params) -> Self {
        ConsistentHash { ring: Ring::with(params.vnodes.unwrap_or(DEFAULT_VNODES), servers) }
    }

    fn pick(&mut self, job: &JobView<'_>, up: &[Candidate], _: &mut NodeRng) -> Choice {
        match self.ring.owner_among(job.key, |s| up.iter().any(|c| c.id == s)) {
            Some((server, 0)) => Choice { server, why: format!("ring owner of key \"{}\"", job.key) },
            Some((server, _)) => {
                let owner = self.ring.owner(job.key).unwrap_or(server);
                Choice { server, why: format!("key \"{}\": owner {owner} is down, next on the ring", job.key) }
            }
            None => Choice { server: up[0].id, why: format!("key \"{}\": no ring point up", job.key) },
        }
    }

    fn joined(&mut self, server: NodeId) {
        self.ring.add(server);
    }

    fn left(&mut self, server: NodeId) {
        self.ring.remove(server);
    }
}
