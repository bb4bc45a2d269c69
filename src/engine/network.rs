//! The simulated network's state: per-link latency, loss and duplication, and
//! the partitions and one-way blocks the timeline installs.

use std::collections::{BTreeMap, BTreeSet};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;

use crate::process::{Nanos, below};
use crate::scenario::units::{Latency, Percent};

/// What a message meets on one directed link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkParams {
    pub latency: Latency,
    pub loss: Percent,
    pub duplicate: Percent,
}

/// A link's own settings; what it leaves unset follows the network's default,
/// including later `set_loss`/`set_latency`/`set_duplicate` steps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkOverride {
    pub latency: Option<Latency>,
    pub loss: Option<Percent>,
    pub duplicate: Option<Percent>,
}

/// Why the network did not deliver a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Drawn from the link's loss probability.
    Loss,
    /// A partition or a one-way block separates sender and receiver.
    Partition,
    /// The receiver was down when the message arrived.
    ReceiverDown,
    /// A script hook (`on_send`, `on_deliver`) dropped it.
    Script,
    /// It crossed a real transport but did not decode at the receiver.
    Undecodable,
}

impl DropReason {
    pub fn describe(self) -> &'static str {
        match self {
            DropReason::Loss => "lost",
            DropReason::Partition => "partitioned",
            DropReason::ReceiverDown => "receiver down",
            DropReason::Script => "dropped by the script",
            DropReason::Undecodable => "undecodable",
        }
    }
}

/// What happens to one message on the wire.
pub enum Fate {
    Dropped(DropReason),
    Delivered { delay: Nanos, duplicate: Option<Nanos> },
}

pub struct Network {
    /// The default link; change its latency with [`Network::set_default_latency`].
    pub default: LinkParams,
    /// The sampler of `default.latency`, its division done once.
    default_sampler: Sampler,
    links: BTreeMap<(u32, u32), LinkOverride>,
    /// Partition group of each node (0 = the default group).
    group: Vec<u32>,
    /// Whether any node is outside group 0 (else `group` need not be read).
    partitioned: bool,
    blocked: BTreeSet<(u32, u32)>,
}

impl Network {
    /// The plan's network by dense index (`idx` maps an id to it): the
    /// default link, the per-link overrides, and the largest latency the run
    /// can draw, `set_latency` steps included (algorithms size their default
    /// timeouts from it). The simulator and every live node build it alike.
    pub fn from_plan(plan: &crate::scenario::Plan, idx: impl Fn(crate::process::NodeId) -> Option<u32>) -> (Network, Nanos) {
        let default = LinkParams { latency: plan.latency, loss: plan.loss, duplicate: plan.duplicate };
        let mut links: BTreeMap<(u32, u32), LinkOverride> = BTreeMap::new();
        for l in &plan.links {
            let (Some(a), Some(b)) = (idx(l.from), idx(l.to)) else { continue };
            let mut pairs = vec![(a, b)];
            if l.both_ways {
                pairs.push((b, a));
            }
            for pair in pairs {
                let o = links.entry(pair).or_default();
                o.latency = l.latency.or(o.latency);
                o.loss = l.loss.or(o.loss);
                o.duplicate = l.duplicate.or(o.duplicate);
            }
        }
        let max_latency = links
            .values()
            .filter_map(|o| o.latency)
            .chain(std::iter::once(default.latency))
            .chain(plan.timeline.iter().filter_map(|(_, a)| match a {
                crate::scenario::Action::SetLatency(l) => Some(*l),
                _ => None,
            }))
            .map(|l| l.hi)
            .max()
            .unwrap_or(0);
        (Network::new(plan.nodes.len(), default, links), max_latency)
    }

    pub fn new(n: usize, default: LinkParams, links: BTreeMap<(u32, u32), LinkOverride>) -> Network {
        Network {
            default,
            default_sampler: Sampler::new(default.latency),
            links,
            group: vec![0; n],
            partitioned: false,
            blocked: BTreeSet::new(),
        }
    }

    /// Sets the default latency (a `set_latency` step).
    pub fn set_default_latency(&mut self, latency: Latency) {
        self.default.latency = latency;
        self.default_sampler = Sampler::new(latency);
    }

    #[inline]
    pub fn can_reach(&self, from: u32, to: u32) -> bool {
        if !self.partitioned && self.blocked.is_empty() {
            return true;
        }
        self.group[from as usize] == self.group[to as usize] && (self.blocked.is_empty() || !self.blocked.contains(&(from, to)))
    }

    /// Installs a partition: each list is a group, unlisted nodes form one more.
    pub fn partition(&mut self, groups: &[Vec<u32>]) {
        self.group.iter_mut().for_each(|g| *g = 0);
        for (i, members) in groups.iter().enumerate() {
            for &m in members {
                self.group[m as usize] = i as u32 + 1;
            }
        }
        self.partitioned = self.group.iter().any(|&g| g != 0);
    }

    pub fn block(&mut self, from: &[u32], to: &[u32]) {
        for &a in from {
            for &b in to {
                if a != b {
                    self.blocked.insert((a, b));
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
        self.partitioned = false;
        self.blocked.clear();
    }

    fn params(&self, from: u32, to: u32) -> LinkParams {
        if self.links.is_empty() {
            return self.default;
        }
        match self.links.get(&(from, to)) {
            None => self.default,
            Some(o) => LinkParams {
                latency: o.latency.unwrap_or(self.default.latency),
                loss: o.loss.unwrap_or(self.default.loss),
                duplicate: o.duplicate.unwrap_or(self.default.duplicate),
            },
        }
    }

    /// Draws the fate of one message from `from` to `to`.
    #[inline]
    pub fn transmit(&self, rng: &mut ChaCha8Rng, from: u32, to: u32) -> Fate {
        if !self.can_reach(from, to) {
            return Fate::Dropped(DropReason::Partition);
        }
        if self.links.is_empty() {
            return self.draw(rng, &self.default, self.default_sampler);
        }
        let p = self.params(from, to);
        let sampler = if p.latency == self.default.latency { self.default_sampler } else { Sampler::new(p.latency) };
        self.draw(rng, &p, sampler)
    }

    #[inline]
    fn draw(&self, rng: &mut ChaCha8Rng, p: &LinkParams, sampler: Sampler) -> Fate {
        if p.loss.0 > 0.0 && rng.next_u64() < p.loss.threshold() {
            return Fate::Dropped(DropReason::Loss);
        }
        let delay = sampler.sample(rng);
        let duplicate = if p.duplicate.0 > 0.0 && rng.next_u64() < p.duplicate.threshold() { Some(sampler.sample(rng)) } else { None };
        Fate::Delivered { delay, duplicate }
    }
}

/// A uniform latency in `[lo, hi]`, in whole microseconds when the bounds
/// are: `lo + below(span) · step`, with `step` and `span` worked out once.
#[derive(Clone, Copy, Debug)]
struct Sampler {
    lo: Nanos,
    step: Nanos,
    /// How many values can be drawn; 1 means none is (`lo == hi`, no draw).
    span: u64,
}

impl Sampler {
    fn new(l: Latency) -> Sampler {
        if l.lo == l.hi {
            return Sampler { lo: l.lo, step: 0, span: 1 };
        }
        let step = if l.lo.is_multiple_of(1000) && l.hi.is_multiple_of(1000) { 1000 } else { 1 };
        Sampler { lo: l.lo, step, span: (l.hi - l.lo) / step + 1 }
    }

    #[inline]
    fn sample(self, rng: &mut ChaCha8Rng) -> Nanos {
        if self.span == 1 {
            return self.lo;
        }
        self.lo + below(rng, self.span) * self.step
    }
}
