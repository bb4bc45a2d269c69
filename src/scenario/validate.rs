//! Meaning checks on a parsed [`Scenario`]: every node id exists, the timeline is
//! in order, each step does one thing, commands and expectations fit the
//! algorithm. Each problem carries the path of the value at fault
//! (`timeline[3].crash`) so a front end can point at its line and column.

use std::collections::BTreeSet;
use std::fmt;

use super::model::{Scenario, Step};
use super::plan::{Action, ClockSpec, DEFAULT_UNTIL, Plan};
use crate::algorithms::registry;
use crate::process::NodeId;

/// One step of a path into the document.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seg {
    /// The value under this key.
    Key(String),
    /// The key itself, when the key is the data at fault (a node id in
    /// `clocks.offsets`, a kind in `expect.messages_by_kind`).
    KeyName(String),
    /// The element at this index of a list.
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Seg {
        Seg::Key(s.to_string())
    }
}
impl From<usize> for Seg {
    fn from(i: usize) -> Seg {
        Seg::Index(i)
    }
}

/// A problem with the value at `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub path: Vec<Seg>,
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.path.iter().enumerate() {
            match s {
                Seg::Key(k) | Seg::KeyName(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) | Seg::KeyName(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        write!(f, ": {}", self.message)
    }
}

macro_rules! path {
    ($($s:expr),*) => { vec![$(Seg::from($s)),*] };
}

struct Checker<'a> {
    ids: &'a [NodeId],
    set: IdSet,
    problems: Vec<Invalid>,
}

/// The scenario's node ids as a bitmap: a count of ten million nodes is
/// checked for repeats in linear time, without a tree of ten million entries.
#[derive(Default)]
struct IdSet {
    bits: Vec<u64>,
    /// Ids above [`MAX_ID`] (each one an error of its own).
    large: BTreeSet<NodeId>,
}

/// The highest node id a scenario may use.
pub const MAX_ID: NodeId = 10_000_000;

impl IdSet {
    fn with_max(max: NodeId) -> IdSet {
        IdSet { bits: vec![0; max.min(MAX_ID) as usize / 64 + 1], large: BTreeSet::new() }
    }

    /// Adds `id`; false when it was there already.
    fn insert(&mut self, id: NodeId) -> bool {
        if id > MAX_ID {
            return self.large.insert(id);
        }
        let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let fresh = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        fresh
    }

    fn contains(&self, id: NodeId) -> bool {
        if id > MAX_ID {
            return self.large.contains(&id);
        }
        self.bits.get(id as usize / 64).is_some_and(|w| w & (1u64 << (id % 64)) != 0)
    }
}

impl Checker<'_> {
    fn fail(&mut self, path: Vec<Seg>, message: impl Into<String>) {
        self.problems.push(Invalid { path, message: message.into() });
    }

    fn node(&mut self, path: Vec<Seg>, id: NodeId) {
        if !self.set.contains(id) {
            let msg = format!("node {id} is not in this scenario; {}", describe_ids(self.ids));
            self.fail(path, msg);
        }
    }

    fn nodes(&mut self, path: Vec<Seg>, ids: &[NodeId]) {
        if ids.is_empty() {
            self.fail(path.clone(), "an empty node list: name at least one node");
        }
        for (i, &id) in ids.iter().enumerate() {
            let mut p = path.clone();
            if ids.len() > 1 || !matches!(p.last(), Some(Seg::Key(_))) {
                p.push(Seg::Index(i));
            }
            self.node(p, id);
        }
    }
}

/// "nodes are 0..4" or "nodes are 1, 5, 9".
pub fn describe_ids(ids: &[NodeId]) -> String {
    let contiguous = ids.windows(2).all(|w| w[1] == w[0] + 1);
    match ids {
        [] => "the scenario has no nodes".into(),
        [one] => format!("the only node is {one}"),
        _ if contiguous => format!("nodes are {}..{}", ids[0], ids[ids.len() - 1]),
        _ if ids.len() <= 12 => {
            format!("nodes are {}", ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "))
        }
        _ => format!("the scenario has {} nodes", ids.len()),
    }
}

/// Checks `s` and turns it into a [`Plan`], or lists every problem found.
pub fn validate(s: &Scenario) -> Result<Plan, Vec<Invalid>> {
    let ids = &s.nodes.0;
    let mut c = Checker { ids, set: IdSet::with_max(ids.iter().copied().max().unwrap_or(0)), problems: Vec::new() };
    if ids.is_empty() {
        c.fail(path!["nodes"], "no nodes: give a count like 5 or a list of ids");
    }
    for (i, &id) in ids.iter().enumerate() {
        if !c.set.insert(id) {
            c.fail(path!["nodes", i], format!("node {id} is listed twice"));
        }
        if id > MAX_ID {
            c.fail(path!["nodes", i], format!("node id {id} is too large: ids go up to {MAX_ID}"));
        }
    }

    if s.name.trim().is_empty() {
        c.fail(path!["name"], "an empty name: expected a one-line title for the trace");
    }

    let algorithm = registry::find(&s.algorithm);
    if algorithm.is_none() {
        let names: Vec<&str> = registry::ALGORITHMS.iter().map(|a| a.name).collect();
        c.fail(
            path!["algorithm"],
            format!(
                "unknown algorithm \"{}\"{}, expected one of {} (`distlab list` describes them)",
                s.algorithm,
                did_you_mean(&s.algorithm, &names),
                names.join(", ")
            ),
        );
    }
    if let Some(a) = algorithm {
        check_params(&mut c, a, &s.params);
        check_node_params(&mut c, a, &s.params);
    }

    for (i, link) in s.network.links.iter().enumerate() {
        c.node(path!["network", "links", i, "from"], link.from);
        c.node(path!["network", "links", i, "to"], link.to);
    }
    let mut clocks = std::collections::BTreeMap::new();
    for (&id, off) in &s.clocks.offsets {
        c.node(path!["clocks", "offsets", Seg::KeyName(id.to_string())], id);
        clocks.entry(id).or_insert_with(ClockSpec::default).offset_ns = off.0;
    }
    for (&id, &ppm) in &s.clocks.drift_ppm {
        c.node(path!["clocks", "drift_ppm", Seg::KeyName(id.to_string())], id);
        if !ppm.is_finite() || ppm.abs() >= 1e6 {
            c.fail(
                path!["clocks", "drift_ppm", id.to_string().as_str()],
                format!("drift {ppm} ppm is out of range: expected between -999999 and 999999"),
            );
        }
        clocks.entry(id).or_insert_with(ClockSpec::default).drift_ppm = ppm;
    }

    let mut timeline = Vec::with_capacity(s.timeline.len());
    let mut last = 0;
    for (i, step) in s.timeline.iter().enumerate() {
        if step.at.0 < last {
            c.fail(
                path!["timeline", i, "at"],
                format!("time {} comes before the previous step's {}: keep the timeline in time order", step.at, super::units::Dur(last)),
            );
        }
        last = last.max(step.at.0);
        if let Some(action) = step_action(&mut c, i, step, algorithm) {
            timeline.push((step.at.0, action));
        }
    }

    if let Some(l) = s.expect.leader {
        c.node(path!["expect", "leader"], l);
    }
    if let Some(a) = algorithm {
        for kind in s.expect.messages_by_kind.keys() {
            if !a.message_kinds.contains(&kind.as_str()) {
                c.fail(
                    path!["expect", "messages_by_kind", Seg::KeyName(kind.clone())],
                    format!(
                        "{} has no message kind \"{kind}\"{}, expected one of {}",
                        a.name,
                        did_you_mean(kind, a.message_kinds),
                        a.message_kinds.join(", ")
                    ),
                );
            }
        }
        for (i, v) in s.expect.violations.iter().enumerate() {
            if !a.checks.contains(&v.as_str()) {
                c.fail(
                    path!["expect", "violations", i],
                    format!("{} has no check \"{v}\"{}, expected one of {}", a.name, did_you_mean(v, a.checks), a.checks.join(", ")),
                );
            }
        }
        let mutex_only = [
            ("safety", s.expect.safety.is_some()),
            ("liveness", s.expect.liveness.is_some()),
            ("messages_per_cs", s.expect.messages_per_cs.is_some()),
            ("order", s.expect.order.is_some()),
        ];
        for (key, given) in mutex_only {
            if given && a.family != "mutex" {
                c.fail(path!["expect", key], format!("`{key}` is an expectation of the mutex family, and {} is not one", a.name));
            }
        }
        if let Some(order) = &s.expect.order {
            for (i, &n) in order.iter().enumerate() {
                c.node(path!["expect", "order", i], n);
            }
        }
        if s.expect.skew.is_some() && a.family != "clock" {
            c.fail(path!["expect", "skew"], format!("`skew` is an expectation of the clock family, and {} is not one", a.name));
        }
        if s.expect.leader.is_some() && a.family != "election" {
            c.fail(path!["expect", "leader"], format!("`leader` is an expectation of the election family, and {} is not one", a.name));
        }
        let balance_only = [("jobs_done", s.expect.jobs_done.is_some()), ("max_imbalance", s.expect.max_imbalance.is_some())];
        for (key, given) in balance_only {
            if given && a.family != "balance" {
                c.fail(path!["expect", key], format!("`{key}` is an expectation of the balance family, and {} is not one", a.name));
            }
        }
        let rpc_only =
            [("duplicate_executions", s.expect.duplicate_executions.is_some()), ("calls_answered", s.expect.calls_answered.is_some())];
        for (key, given) in rpc_only {
            if given && a.family != "rpc" {
                c.fail(path!["expect", key], format!("`{key}` is an expectation of the rpc family, and {} is not one", a.name));
            }
        }
        let multicast_only =
            [("deliveries", s.expect.deliveries.is_some()), ("messages_per_multicast", s.expect.messages_per_multicast.is_some())];
        for (key, given) in multicast_only {
            if given && a.family != "multicast" {
                c.fail(path!["expect", key], format!("`{key}` is an expectation of the multicast family, and {} is not one", a.name));
            }
        }
        if let Some(m) = s.expect.max_imbalance
            && !(m.is_finite() && m >= 1.0)
        {
            c.fail(path!["expect", "max_imbalance"], format!("max_imbalance {m}: expected a ratio of 1.0 or more (max/mean work)"));
        }
    }

    match (c.problems.is_empty(), algorithm) {
        (true, Some(algorithm)) => Ok(Plan {
            name: s.name.clone(),
            algorithm,
            nodes: ids.clone(),
            seed: s.seed,
            latency: s.network.latency,
            loss: s.network.loss,
            duplicate: s.network.duplicate,
            links: s.network.links.clone(),
            clocks,
            adjust: s.clocks.adjust,
            slew_ppm: s.clocks.slew_ppm.unwrap_or(500.0),
            params: s.params.clone(),
            until: s.until.map_or(DEFAULT_UNTIL, |d| d.0),
            timeline,
            expect: s.expect.clone(),
            script: None,
            transport: s.transport.unwrap_or_default(),
            wire: crate::transport::TransportOptions::default(),
        }),
        _ => Err(c.problems),
    }
}

/// Checks `params:` with the algorithm's own checker and points at the key at
/// fault: each key alone is checked again to find which one the error is about.
fn check_params(c: &mut Checker<'_>, a: &registry::Algorithm, params: &serde_yaml::Value) {
    let Err(e) = (a.validate_params)(params) else {
        return;
    };
    let names: Vec<&str> = a.params.iter().map(|p| p.name).collect();
    let with_list = |e: &str| {
        if e.contains("expected one of") { e.to_string() } else { format!("{e} (parameters of {}: {})", a.name, param_names(a)) }
    };
    if !params.is_mapping() {
        c.fail(path!["params"], format!("expected a mapping like {{timeout: 5ms}} (parameters of {}: {})", a.name, param_names(a)));
        return;
    }
    let empty = serde_yaml::Value::Mapping(serde_yaml::Mapping::new());
    if let serde_yaml::Value::Mapping(m) = params
        && (a.validate_params)(&empty).is_ok()
    {
        let mut found = false;
        for (k, v) in m {
            let one = serde_yaml::Value::Mapping(std::iter::once((k.clone(), v.clone())).collect());
            let Err(e) = (a.validate_params)(&one) else {
                continue;
            };
            let key = match k {
                serde_yaml::Value::String(s) => s.clone(),
                serde_yaml::Value::Number(n) => n.to_string(),
                serde_yaml::Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            found = true;
            if !names.contains(&key.as_str()) {
                c.fail(
                    path!["params", Seg::KeyName(key.clone())],
                    format!("unknown parameter \"{key}\" for {}{}, expected one of {}", a.name, did_you_mean(&key, &names), param_names(a)),
                );
            } else {
                c.fail(path!["params", key.as_str()], with_list(&e));
            }
        }
        if found {
            return;
        }
    }
    c.fail(path!["params"], with_list(&e));
}

/// Parameters that name nodes (a coordinator, a server, a sequencer…): each
/// id must be a node of the scenario, or the run would wait on nobody.
const NODE_PARAMS: &[&str] = &["coordinator", "server", "servers", "registry", "sequencer", "dispatcher", "master", "token"];

fn check_node_params(c: &mut Checker<'_>, a: &registry::Algorithm, params: &serde_yaml::Value) {
    let serde_yaml::Value::Mapping(m) = params else { return };
    for &key in NODE_PARAMS.iter().filter(|k| a.params.iter().any(|p| p.name == **k)) {
        match m.get(key) {
            Some(serde_yaml::Value::Number(n)) => {
                if let Some(id) = n.as_u64().and_then(|v| NodeId::try_from(v).ok()) {
                    c.node(path!["params", key], id);
                }
            }
            Some(serde_yaml::Value::Sequence(ids)) => {
                for (i, v) in ids.iter().enumerate() {
                    if let Some(id) = v.as_u64().and_then(|v| NodeId::try_from(v).ok()) {
                        c.node(path!["params", key, i], id);
                    }
                }
            }
            _ => {}
        }
    }
}

/// `, did you mean "x"?` when `found` is a likely typo of one of `names`.
pub fn did_you_mean(found: &str, names: &[&str]) -> String {
    suggest(found, names).map_or(String::new(), |s| format!(" (did you mean \"{s}\"?)"))
}

/// The name in `names` closest to `found`, if close enough to be a typo.
pub fn suggest<'a>(found: &str, names: &[&'a str]) -> Option<&'a str> {
    let limit = (found.chars().count() / 3).max(1);
    names
        .iter()
        .map(|n| (distance(&found.to_lowercase(), &n.to_lowercase()), *n))
        .filter(|(d, n)| *d <= limit && *n != found)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn param_names(a: &registry::Algorithm) -> String {
    if a.params.is_empty() {
        return "none".into();
    }
    a.params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

fn step_action(c: &mut Checker<'_>, i: usize, step: &Step, algorithm: Option<&registry::Algorithm>) -> Option<Action> {
    let mut actions: Vec<(&str, Option<Action>)> = Vec::new();
    if let Some(cmd) = &step.command {
        match step.node {
            None => {
                c.fail(path!["timeline", i, "do"], "`do:` needs `node:` to say which node runs the command (add `node: N` to this step)");
                actions.push(("do", None));
            }
            Some(n) => {
                c.node(path!["timeline", i, "node"], n);
                if let Some(a) = algorithm {
                    match a.commands.iter().find(|k| k.name == cmd.name) {
                        None => {
                            let names: Vec<&str> = a.commands.iter().map(|k| k.name).collect();
                            c.fail(
                                path!["timeline", i, "do"],
                                format!(
                                    "unknown command \"{}\" for {}{}, expected one of {}",
                                    cmd.name,
                                    a.name,
                                    did_you_mean(&cmd.name, &names),
                                    names.join(", ")
                                ),
                            );
                        }
                        Some(spec) if spec.args.len() != cmd.args.len() => {
                            let usage = std::iter::once(spec.name).chain(spec.args.iter().copied()).collect::<Vec<_>>().join(" ");
                            let expected = match spec.args.len() {
                                0 => "no arguments".to_string(),
                                1 => "1 argument".to_string(),
                                n => format!("{n} arguments"),
                            };
                            c.fail(
                                path!["timeline", i, "do"],
                                format!("\"{cmd}\" has {} argument(s), expected {expected}: {usage}", cmd.args.len()),
                            );
                        }
                        Some(_) => {}
                    }
                }
                actions.push(("do", Some(Action::Command { node: n, command: cmd.clone() })));
            }
        }
    } else if step.node.is_some() {
        c.fail(path!["timeline", i, "node"], "`node:` goes with `do:` (a command for that node); for a crash write `crash: N`");
    }
    if let Some(l) = &step.crash {
        c.nodes(path!["timeline", i, "crash"], &l.0);
        actions.push(("crash", Some(Action::Crash(l.0.clone()))));
    }
    if let Some(l) = &step.recover {
        c.nodes(path!["timeline", i, "recover"], &l.0);
        actions.push(("recover", Some(Action::Recover(l.0.clone()))));
    }
    if let Some(groups) = &step.partition {
        let mut seen = BTreeSet::new();
        for (g, group) in groups.iter().enumerate() {
            c.nodes(path!["timeline", i, "partition", g], group);
            let mut here = BTreeSet::new();
            for &n in group {
                if !here.insert(n) {
                    c.fail(path!["timeline", i, "partition", g], format!("node {n} appears twice in this group"));
                } else if !seen.insert(n) {
                    c.fail(path!["timeline", i, "partition", g], format!("node {n} is in two groups"));
                }
            }
        }
        actions.push(("partition", Some(Action::Partition(groups.clone()))));
    }
    if let Some(b) = &step.block {
        c.nodes(path!["timeline", i, "block", "from"], &b.from.0);
        c.nodes(path!["timeline", i, "block", "to"], &b.to.0);
        actions.push(("block", Some(Action::Block { from: b.from.0.clone(), to: b.to.0.clone() })));
    }
    match step.heal {
        Some(true) => actions.push(("heal", Some(Action::Heal))),
        Some(false) => {
            c.fail(path!["timeline", i, "heal"], "`heal: false` does nothing: write `heal: true` or remove the step");
            actions.push(("heal", None));
        }
        None => {}
    }
    if let Some(p) = step.set_loss {
        actions.push(("set_loss", Some(Action::SetLoss(p))));
    }
    if let Some(p) = step.set_duplicate {
        actions.push(("set_duplicate", Some(Action::SetDuplicate(p))));
    }
    if let Some(l) = step.set_latency {
        actions.push(("set_latency", Some(Action::SetLatency(l))));
    }
    if let Some(h) = &step.show_clocks {
        actions.push(("show_clocks", Some(Action::ShowClocks(h.clone()))));
    }
    if let Some(d) = &step.set_drift {
        c.node(path!["timeline", i, "set_drift", "node"], d.node);
        if !d.ppm.is_finite() || d.ppm.abs() >= 1e6 {
            c.fail(
                path!["timeline", i, "set_drift", "ppm"],
                format!("drift {} ppm is out of range: expected between -999999 and 999999", d.ppm),
            );
        }
        actions.push(("set_drift", Some(Action::SetDrift { node: d.node, ppm: d.ppm })));
    }
    if let Some(o) = &step.set_offset {
        c.node(path!["timeline", i, "set_offset", "node"], o.node);
        actions.push(("set_offset", Some(Action::SetOffset { node: o.node, offset_ns: o.offset.0 })));
    }
    if let Some(t) = &step.note {
        actions.push(("note", Some(Action::Note(t.clone()))));
    }
    match step.stop {
        Some(true) => actions.push(("stop", Some(Action::Stop))),
        Some(false) => {
            c.fail(path!["timeline", i, "stop"], "`stop: false` does nothing: write `stop: true` or remove the step");
            actions.push(("stop", None));
        }
        None => {}
    }
    match actions.len() {
        1 => actions.pop().and_then(|(_, a)| a),
        0 => {
            c.fail(
                path!["timeline", i],
                "this step does nothing: expected one of do (with node), crash, recover, partition, block, heal, set_loss, set_duplicate, set_latency, set_drift, set_offset, show_clocks, note, stop",
            );
            None
        }
        _ => {
            let names: Vec<&str> = actions.iter().map(|(n, _)| *n).collect();
            c.fail(
                path!["timeline", i],
                format!("one step does one thing, this one has {}: split it into steps with the same `at`", names.join(" and ")),
            );
            None
        }
    }
}
