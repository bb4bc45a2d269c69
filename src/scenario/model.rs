//! The scenario as plain data: what the YAML and Lua front ends both produce.
//!
//! Field names here *are* the file format (see DESIGN.md, "Scenario files");
//! `distlab schema` prints them as a JSON Schema. Values are checked for form
//! while parsing (units, shapes) and for meaning by [`super::validate`].

use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::units::{Dur, Latency, Percent, SignedDur};
use crate::process::NodeId;

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A one-line title, printed at the top of the trace.
    pub name: String,
    /// Longer prose for the reader; not printed.
    #[serde(default)]
    pub description: Option<String>,
    /// The algorithm to run, e.g. `election.ring` (`distlab list` prints them all).
    pub algorithm: String,
    /// A count (`5` means ids 1..=5) or explicit ids in ring order (`[0, 1, 2, 3, 4]`).
    pub nodes: Nodes,
    /// The seed of every random draw (latency, loss, the nodes' generators).
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub clocks: ClocksSpec,
    /// The algorithm's own settings (`distlab list` prints them).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub params: serde_yaml::Value,
    /// Stop the run at this virtual time even if events remain (default 60s).
    #[serde(default)]
    pub until: Option<Dur>,
    /// How messages travel: `sim` (in memory, the default), or through real
    /// sockets on 127.0.0.1 in lockstep — `udp`, `tcp`, `multicast`, `file`.
    /// The trace is the same on every transport; `--transport` overrides it.
    #[serde(default)]
    pub transport: Option<crate::transport::TransportKind>,
    /// Faults and requests, in time order.
    #[serde(default)]
    pub timeline: Vec<Step>,
    #[serde(default)]
    pub expect: Expect,
}

/// The scenario's node ids, in ring order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nodes(pub Vec<NodeId>);

impl<'de> Deserialize<'de> for Nodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Nodes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a node count like 5, or a list of ids like [0, 1, 2]")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Nodes, E> {
                if n == 0 || n > 10_000_000 {
                    return Err(E::custom(format!("{n} nodes: expected a count from 1 to 10000000, or a list of ids like [0, 1, 2]")));
                }
                Ok(Nodes((1..=n as NodeId).collect()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Nodes, E> {
                if n < 0 {
                    return Err(E::custom(format!("{n} nodes: a node count cannot be negative")));
                }
                self.visit_u64(n as u64)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Nodes, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<NodeId>()? {
                    ids.push(id);
                }
                Ok(Nodes(ids))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Nodes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Nodes".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A node count (ids 1..=n) or a list of explicit ids in ring order.",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1}
            ]
        })
    }
}

/// One node, or a list of nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeList(pub Vec<NodeId>);

impl<'de> Deserialize<'de> for NodeList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NodeList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a node id like 4, or a list like [1, 2]")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<NodeList, E> {
                NodeId::try_from(n).map(|n| NodeList(vec![n])).map_err(|_| E::custom(format!("node id {n} is too large")))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<NodeList, E> {
                Err(E::custom(format!("node id {n} is negative: ids are whole numbers, 0 or more")))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeList, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<NodeId>()? {
                    ids.push(id);
                }
                Ok(NodeList(ids))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for NodeList {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NodeList".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A node id or a list of node ids.",
            "anyOf": [{"type": "integer", "minimum": 0}, {"type": "array", "items": {"type": "integer", "minimum": 0}}]
        })
    }
}

/// The network every message crosses.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// One-way latency of every link (default 1ms).
    #[serde(default)]
    pub latency: Latency,
    /// Probability that a message is lost.
    #[serde(default)]
    pub loss: Percent,
    /// Probability that a message is delivered twice.
    #[serde(default)]
    pub duplicate: Percent,
    /// Per-link overrides, one direction each unless `both_ways: true`.
    #[serde(default)]
    pub links: Vec<LinkSpec>,
}

/// A link whose latency, loss or duplication differ from the network's.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub from: NodeId,
    pub to: NodeId,
    #[serde(default)]
    pub both_ways: bool,
    #[serde(default)]
    pub latency: Option<Latency>,
    #[serde(default)]
    pub loss: Option<Percent>,
    #[serde(default)]
    pub duplicate: Option<Percent>,
}

/// Per-node clocks: the local clock reads `true time + offset + drift`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClocksSpec {
    /// Initial offset of a node's clock from true time, e.g. `{1: +10s, 2: -5s}`.
    #[serde(default, deserialize_with = "unique_keys")]
    pub offsets: BTreeMap<NodeId, SignedDur>,
    /// How a node's clock takes a correction: `step` (jump, the default) or
    /// `slew` (bounded rate, never backwards).
    #[serde(default)]
    pub adjust: crate::engine::clock::AdjustMode,
    /// The slewing rate in ppm (default 500, as NTP's limit).
    #[serde(default)]
    pub slew_ppm: Option<f64>,
    /// Drift in parts per million, e.g. `{1: 50, 3: -20}`.
    #[serde(default, deserialize_with = "unique_keys")]
    pub drift_ppm: BTreeMap<NodeId, f64>,
}

/// A mapping whose keys must be distinct: YAML allows `{1: +1s, 1: +2s}`, and
/// a plain map would keep the last value silently. Each key is checked inside
/// its own visitor, so a repeated key is reported at its line and column.
fn unique_keys<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    use serde::de::{DeserializeSeed, IntoDeserializer, MapAccess};
    use std::marker::PhantomData;

    struct Key<'s, K>(&'s mut std::collections::BTreeSet<String>, PhantomData<K>);
    impl<'de, K: Deserialize<'de>> DeserializeSeed<'de> for Key<'_, K> {
        type Value = K;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<K> Key<'_, K> {
        fn first<E: de::Error>(&mut self, text: String) -> Result<(), E> {
            if self.0.insert(text.clone()) { Ok(()) } else { Err(E::custom(format!("\"{text}\" appears twice: give each key once"))) }
        }
    }
    impl<'de, K: Deserialize<'de>> Visitor<'de> for Key<'_, K> {
        type Value = K;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a key")
        }
        fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<K, E> {
            self.first(v.to_string())?;
            K::deserialize(v.into_deserializer())
        }
        fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<K, E> {
            self.first(v.to_string())?;
            K::deserialize(v.into_deserializer())
        }
        fn visit_str<E: de::Error>(mut self, v: &str) -> Result<K, E> {
            self.first(v.to_string())?;
            // Formats whose map keys are always text (JSON, so Lua tables) spell
            // node ids as "2": read them as the numbers they are.
            if let Ok(n) = v.trim().parse::<u64>() {
                return K::deserialize(n.into_deserializer());
            }
            K::deserialize(v.into_deserializer())
        }
        fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<K, E> {
            self.first(v.to_string())?;
            K::deserialize(v.into_deserializer())
        }
    }
    struct M<K, V>(PhantomData<(K, V)>);
    impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Visitor<'de> for M<K, V> {
        type Value = BTreeMap<K, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        /// A list stands for keys 1, 2, 3, …: what Lua makes of `{[1] = a, [2] = b}`.
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            let mut i: u64 = 1;
            while let Some(v) = seq.next_element()? {
                out.insert(K::deserialize(i.into_deserializer())?, v);
                i += 1;
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut seen = std::collections::BTreeSet::new();
            let mut out = BTreeMap::new();
            while let Some(k) = map.next_key_seed(Key::<K>(&mut seen, PhantomData))? {
                out.insert(k, map.next_value()?);
            }
            Ok(out)
        }
    }
    d.deserialize_any(M(PhantomData))
}

/// A scenario request to one node: a command name and its arguments
/// (`start_election`, `call sqrt 16`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Command {
    pub name: String,
    pub args: Vec<String>,
}

impl Command {
    pub fn parse(text: &str) -> Result<Command, String> {
        let mut words = text.split_whitespace();
        let Some(name) = words.next() else {
            return Err("an empty command: expected a command name like start_election".into());
        };
        Ok(Command { name: name.to_string(), args: words.map(str::to_string).collect() })
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Parsed inside the visitor, so a bad command is reported at its own
        // line and column rather than at the step's.
        struct V;
        impl Visitor<'_> for V {
            type Value = Command;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a command like start_election")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Command, E> {
                Command::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl JsonSchema for Command {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Command".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "description": "A command of the algorithm and its arguments, e.g. start_election."})
    }
}

/// One timeline entry: a time and exactly one action.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// When the action happens (virtual time since the start).
    pub at: Dur,
    /// The node a `do:` command goes to.
    #[serde(default)]
    pub node: Option<NodeId>,
    /// A command for `node`, e.g. `start_election`.
    #[serde(default, rename = "do")]
    pub command: Option<Command>,
    /// Crash these nodes: they stop, lose their timers, and miss every message.
    #[serde(default)]
    pub crash: Option<NodeList>,
    /// Bring crashed nodes back.
    #[serde(default)]
    pub recover: Option<NodeList>,
    /// Split the network into groups that cannot talk to each other; nodes not
    /// listed form one more group.
    #[serde(default)]
    pub partition: Option<Vec<Vec<NodeId>>>,
    /// Cut links in one direction only.
    #[serde(default)]
    pub block: Option<Block>,
    /// Remove every partition and block.
    #[serde(default)]
    pub heal: Option<bool>,
    #[serde(default)]
    pub set_loss: Option<Percent>,
    #[serde(default)]
    pub set_duplicate: Option<Percent>,
    #[serde(default)]
    pub set_latency: Option<Latency>,
    /// Print every node's clock, under this heading (`"Before:"`).
    #[serde(default)]
    pub show_clocks: Option<String>,
    /// A node's clock drift changes: `{node: 2, ppm: 100}`.
    #[serde(default)]
    pub set_drift: Option<SetDrift>,
    /// A node's clock jumps to a new offset from true time: `{node: 2, offset: +5s}`.
    #[serde(default)]
    pub set_offset: Option<SetOffset>,
    /// A line of text for the trace.
    #[serde(default)]
    pub note: Option<String>,
    /// End the run here.
    #[serde(default)]
    pub stop: Option<bool>,
}

/// `set_drift: {node: 2, ppm: 100}`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDrift {
    pub node: NodeId,
    pub ppm: f64,
}

/// `set_offset: {node: 2, offset: +5s}`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOffset {
    pub node: NodeId,
    pub offset: SignedDur,
}

/// A one-way cut: nothing sent from `from` reaches `to`.
#[derive(Clone, Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub from: NodeList,
    pub to: NodeList,
}

/// A count that must hold at the end.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bound {
    #[serde(default)]
    pub min: Option<u64>,
    #[serde(default)]
    pub max: Option<u64>,
    #[serde(default)]
    pub exact: Option<u64>,
}

impl Bound {
    pub fn holds(&self, v: u64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m) && self.exact.is_none_or(|e| v == e)
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(e) = self.exact {
            parts.push(format!("= {e}"));
        }
        if let Some(m) = self.min {
            parts.push(format!(">= {m}"));
        }
        if let Some(m) = self.max {
            parts.push(format!("<= {m}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// What the run must show; each item is reported in the summary.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The node every live node follows at the end (election family).
    #[serde(default)]
    pub leader: Option<NodeId>,
    /// Bound on the number of messages sent (all kinds).
    #[serde(default)]
    pub messages: Option<Bound>,
    /// Bounds per message kind, e.g. `{Election: {max: 9}}`.
    #[serde(default, deserialize_with = "unique_keys")]
    pub messages_by_kind: BTreeMap<String, Bound>,
    /// Never two nodes inside the critical section (mutex family).
    #[serde(default)]
    pub safety: Option<bool>,
    /// Every request of a live node is granted (mutex family).
    #[serde(default)]
    pub liveness: Option<bool>,
    /// Messages per critical-section entry, e.g. `{exact: 8}` (mutex family).
    #[serde(default)]
    pub messages_per_cs: Option<Bound>,
    /// The order in which nodes enter the critical section (mutex family).
    #[serde(default)]
    pub order: Option<Vec<NodeId>>,
    /// Checks that must fail in this scenario (a lab that shows a bug), by name.
    #[serde(default)]
    pub violations: Vec<String>,
    /// How far apart the clocks may be, e.g. `{max: 2ms}` (clock family).
    #[serde(default)]
    pub skew: Option<SkewBound>,
    /// How many jobs finish, e.g. `{exact: 20}` (balance family).
    #[serde(default)]
    pub jobs_done: Option<Bound>,
    /// The largest max/mean ratio of the servers' work, e.g. `1.25`
    /// (balance family; 1.0 is a perfect balance).
    #[serde(default)]
    pub max_imbalance: Option<f64>,
    /// Executions beyond the first, summed over the calls, e.g. `{exact: 0}`
    /// (rpc family).
    #[serde(default)]
    pub duplicate_executions: Option<Bound>,
    /// How many calls return a result at their client (rpc family).
    #[serde(default)]
    pub calls_answered: Option<Bound>,
    /// How many deliveries in all, every member counted, e.g. `{exact: 16}`
    /// (multicast family).
    #[serde(default)]
    pub deliveries: Option<Bound>,
    /// Messages sent per multicast, e.g. `{exact: 3}` for basic multicast
    /// to 4 members (multicast family).
    #[serde(default)]
    pub messages_per_multicast: Option<Bound>,
}

/// `expect: skew: {max: 2ms, from: 10ms}`: judged at every `show_clocks`
/// sample at or after `from` and at the end of the run.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkewBound {
    /// The largest |clock_i − clock_j| over live nodes.
    #[serde(default)]
    pub max: Option<Dur>,
    /// The largest |clock_i − true time| over live nodes.
    #[serde(default)]
    pub vs_true: Option<Dur>,
    /// Only samples taken at or after this time count (default: all).
    #[serde(default)]
    pub from: Option<Dur>,
    /// No node's successive clock readings go backwards (with `clocks:
    /// {adjust: slew}`).
    #[serde(default)]
    pub monotonic: Option<bool>,
}
