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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
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
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
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
    set: BTreeSet<NodeId>,
    problems: Vec<Invalid>,
}

impl Checker<'_> {
    fn fail(&mut self, path: Vec<Seg>, message: impl Into<String>) {
        self.problems.push(Invalid { path, message: message.into() });
    }

    fn node(&mut self, path: Vec<Seg>, id: NodeId) {
        if !self.set.contains(&id) {
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
    let mut c = Checker { ids, set: BTreeSet::new(), problems: Vec::new() };
    if ids.is_empty() {
        c.fail(path!["nodes"], "no nodes: give a count like 5 or a list of ids");
    }
    for (i, &id) in ids.iter().enumerate() {
        if !c.set.insert(id) {
            c.fail(path!["nodes", i], format!("node {id} is listed twice"));
        }
        if id > 10_000_000 {
            c.fail(path!["nodes", i], format!("node id {id} is too large: ids go up to 10000000"));
        }
    }

    let algorithm = registry::find(&s.algorithm);
    if algorithm.is_none() {
        let names: Vec<&str> = registry::ALGORITHMS.iter().map(|a| a.name).collect();
        c.fail(path!["algorithm"], format!("unknown algorithm \"{}\", expected one of {}", s.algorithm, names.join(", ")));
    }
    if let Some(a) = algorithm
        && let Err(e) = (a.validate_params)(&s.params)
    {
        c.fail(path!["params"], format!("{e} (parameters of {}: {})", a.name, param_names(a)));
    }

    for (i, link) in s.network.links.iter().enumerate() {
        c.node(path!["network", "links", i, "from"], link.from);
        c.node(path!["network", "links", i, "to"], link.to);
    }
    let mut clocks = std::collections::BTreeMap::new();
    for (&id, off) in &s.clocks.offsets {
        c.node(path!["clocks", "offsets", id.to_string().as_str()], id);
        clocks.entry(id).or_insert_with(ClockSpec::default).offset_ns = off.0;
    }
    for (&id, &ppm) in &s.clocks.drift_ppm {
        c.node(path!["clocks", "drift_ppm", id.to_string().as_str()], id);
        if !ppm.is_finite() || ppm.abs() >= 1e6 {
            c.fail(path!["clocks", "drift_ppm", id.to_string().as_str()], format!("drift {ppm} ppm is out of range: expected between -999999 and 999999"));
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
                    path!["expect", "messages_by_kind", kind.as_str()],
                    format!("{} has no message kind \"{kind}\", expected one of {}", a.name, a.message_kinds.join(", ")),
                );
            }
        }
        for (i, v) in s.expect.violations.iter().enumerate() {
            if !a.checks.contains(&v.as_str()) {
                c.fail(path!["expect", "violations", i], format!("{} has no check \"{v}\", expected one of {}", a.name, a.checks.join(", ")));
            }
        }
        if s.expect.leader.is_some() && a.family != "election" {
            c.fail(path!["expect", "leader"], format!("`leader` is an expectation of the election family, and {} is not one", a.name));
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
            params: s.params.clone(),
            until: s.until.map_or(DEFAULT_UNTIL, |d| d.0),
            timeline,
            expect: s.expect.clone(),
        }),
        _ => Err(c.problems),
    }
}

fn param_names(a: &registry::Algorithm) -> String {
    if a.params.is_empty() {
        return "none".into();
    }
    a.params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

fn step_action(c: &mut Checker<'_>, i: usize, step: &Step, algorithm: Option<&registry::Algorithm>) -> Option<Action> {
    let mut actions = Vec::new();
    if let Some(cmd) = &step.command {
        match step.node {
            None => c.fail(path!["timeline", i], "`do:` needs `node:` to say which node runs the command"),
            Some(n) => {
                c.node(path!["timeline", i, "node"], n);
                if let Some(a) = algorithm {
                    match a.commands.iter().find(|k| k.name == cmd.name) {
                        None => {
                            let names: Vec<&str> = a.commands.iter().map(|k| k.name).collect();
                            c.fail(
                                path!["timeline", i, "do"],
                                format!("unknown command \"{}\" for {}, expected one of {}", cmd.name, a.name, names.join(", ")),
                            );
                        }
                        Some(spec) if spec.args.len() != cmd.args.len() => {
                            c.fail(
                                path!["timeline", i, "do"],
                                format!("\"{}\" takes {} argument(s): {} {}", cmd.name, spec.args.len(), cmd.name, spec.args.join(" ")),
                            );
                        }
                        Some(_) => {}
                    }
                }
                actions.push(("do", Action::Command { node: n, command: cmd.clone() }));
            }
        }
    } else if step.node.is_some() {
        c.fail(path!["timeline", i, "node"], "`node:` goes with `do:` (a command for that node); for a crash write `crash: N`");
    }
    if let Some(l) = &step.crash {
        c.nodes(path!["timeline", i, "crash"], &l.0);
        actions.push(("crash", Action::Crash(l.0.clone())));
    }
    if let Some(l) = &step.recover {
        c.nodes(path!["timeline", i, "recover"], &l.0);
        actions.push(("recover", Action::Recover(l.0.clone())));
    }
    if let Some(groups) = &step.partition {
        let mut seen = BTreeSet::new();
        for (g, group) in groups.iter().enumerate() {
            c.nodes(path!["timeline", i, "partition", g], group);
            for &n in group {
                if !seen.insert(n) {
                    c.fail(path!["timeline", i, "partition", g], format!("node {n} is in two groups"));
                }
            }
        }
        actions.push(("partition", Action::Partition(groups.clone())));
    }
    if let Some(b) = &step.block {
        c.nodes(path!["timeline", i, "block", "from"], &b.from.0);
        c.nodes(path!["timeline", i, "block", "to"], &b.to.0);
        actions.push(("block", Action::Block { from: b.from.0.clone(), to: b.to.0.clone() }));
    }
    match step.heal {
        Some(true) => actions.push(("heal", Action::Heal)),
        Some(false) => c.fail(path!["timeline", i, "heal"], "`heal: false` does nothing: write `heal: true` or remove the step"),
        None => {}
    }
    if let Some(p) = step.set_loss {
        actions.push(("set_loss", Action::SetLoss(p)));
    }
    if let Some(p) = step.set_duplicate {
        actions.push(("set_duplicate", Action::SetDuplicate(p)));
    }
    if let Some(l) = step.set_latency {
        actions.push(("set_latency", Action::SetLatency(l)));
    }
    if let Some(t) = &step.note {
        actions.push(("note", Action::Note(t.clone())));
    }
    match step.stop {
        Some(true) => actions.push(("stop", Action::Stop)),
        Some(false) => c.fail(path!["timeline", i, "stop"], "`stop: false` does nothing: write `stop: true` or remove the step"),
        None => {}
    }
    match actions.len() {
        1 => actions.pop().map(|(_, a)| a),
        0 => {
            c.fail(
                path!["timeline", i],
                "this step does nothing: expected one of do (with node), crash, recover, partition, block, heal, set_loss, set_duplicate, set_latency, note, stop",
            );
            None
        }
        _ => {
            let names: Vec<&str> = actions.iter().map(|(n, _)| *n).collect();
            c.fail(path!["timeline", i], format!("one step does one thing, this one has {}: split it into steps with the same `at`", names.join(" and ")));
            None
        }
    }
}
