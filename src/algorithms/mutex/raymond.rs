//! `mutex.raymond` — Raymond's tree-based token algorithm.
//!
//! **Guarantee.** Safety (one token, `PRIVILEGE`) and liveness on reliable
//! channels without crashes; channels need not be FIFO. Requests that meet at
//! a node are served in the order they reached it (each node's queue is FIFO).
//!
//! **Tree.** The nodes form a spanning tree: `params: {tree: {child: parent,
//! …}}`, whose single root starts with the token, or by default a balanced
//! binary tree over the scenario's node order (the node at index i has its
//! parent at index (i−1)/2, the first node is the root). A cycle, a node that
//! is its own parent, two roots or an empty map are rejected when the scenario
//! is loaded. Whether the tree names exactly the scenario's nodes (no unknown
//! id, none left out) can only be checked when the run starts, because
//! parameter validation does not see the node list: such a tree is replaced
//! by the default one and the first node's `note` in the trace says why.
//!
//! **State and messages.** Each node keeps `holder` (itself when it has the
//! token, otherwise the neighbour toward it), a FIFO `request_q` of
//! neighbours (and itself) that want the token, `using` (inside the critical
//! section) and `asked` (a `REQUEST` is outstanding toward `holder`).
//! `assign_privilege`: a holder that is not using the token hands it to the
//! head of its queue (entering itself if the head is itself, else sending
//! `PRIVILEGE` and pointing `holder` at that neighbour). `make_request`: a
//! non-holder with a non-empty queue that has not asked yet sends `REQUEST`
//! to `holder`. Every event (a request, leaving, a `REQUEST`, the
//! `PRIVILEGE`) runs the two in that order.
//!
//! **Complexity.** At most 2·D messages per entry, D the tree's diameter:
//! the `REQUEST`s climb toward the token and the `PRIVILEGE` comes back down
//! the same path, one message per edge each way; O(log N) on the default
//! balanced tree. A holder that asks again while nobody waits enters for
//! free. Under heavy load the cost falls toward about 4 per entry, because
//! one `REQUEST` carries every request behind it.
//!
//! **Crashes.** A crashed node loses its queue and, if it had it, the token;
//! nobody regenerates the token, so every later request starves: a liveness
//! failure the checker reports, never a panic. A recovered node keeps its
//! `holder` pointer toward a neighbour (the tree's shape, as if on stable
//! storage) but forgets the requests it had queued or forwarded.
//!
//! **Source.** K. Raymond, "A tree-based algorithm for distributed mutual
//! exclusion", ACM TOCS 7(1), 1989.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cs, Next, Phase, Timer};
use crate::check::Checker;
use crate::check::mutex::MutexChecker;
use crate::process::{Ctx, Message, NodeId, Observation, Process, Setup};
use crate::scenario::Command;
use crate::scenario::units::Dur;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// "Send me the token": to `holder`, on behalf of the sender's queue.
    Request,
    /// The token.
    Privilege,
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Request => "REQUEST",
            Msg::Privilege => "PRIVILEGE",
        }
    }
}

pub const KINDS: &[&str] = &["REQUEST", "PRIVILEGE"];

/// The `tree:` map as written, in order, duplicates kept (a plain map would
/// keep the last parent of a repeated child silently).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edges(pub Vec<(NodeId, NodeId)>);

impl<'de> Deserialize<'de> for Edges {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Edges, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Edges;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of node id to parent id, like {2: 1, 3: 1}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Edges, A::Error> {
                let mut edges = Vec::new();
                while let Some(edge) = m.next_entry::<NodeId, NodeId>()? {
                    edges.push(edge);
                }
                Ok(Edges(edges))
            }
        }
        d.deserialize_map(V)
    }
}

/// A tree given as `{child: parent, …}`, checked for what can be checked
/// without the node list: each child once, no cycle, exactly one root.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Edges")]
pub struct Tree {
    /// Every node but the root, with its parent.
    pub parent: BTreeMap<NodeId, NodeId>,
    /// The one node that is nobody's child; it starts with the token.
    pub root: NodeId,
}

impl TryFrom<Edges> for Tree {
    type Error = String;

    fn try_from(edges: Edges) -> Result<Tree, String> {
        let mut parent = BTreeMap::new();
        for (c, p) in edges.0 {
            if let Some(first) = parent.insert(c, p) {
                return Err(format!("node {c} is given two parents, {first} and {p}"));
            }
        }
        Tree::from_parents(parent)
    }
}

impl Tree {
    /// Checks a `{child: parent}` map: no cycle, exactly one root.
    pub fn from_parents(parent: BTreeMap<NodeId, NodeId>) -> Result<Tree, String> {
        if parent.is_empty() {
            return Err("the tree has no edge: give it as {child: parent, ...}, or leave `tree` out for the default binary tree".into());
        }
        if let Some((c, _)) = parent.iter().find(|(c, p)| c == p) {
            return Err(format!("node {c} is its own parent: the tree has a cycle"));
        }
        // Climb from every node until a root or a node already known to
        // reach one; meeting the walk itself again is a cycle.
        let mut reaches_root = BTreeSet::new();
        for &start in parent.keys() {
            let mut path = vec![start];
            let mut at = start;
            while let Some(&up) = parent.get(&at) {
                if reaches_root.contains(&up) {
                    break;
                }
                if let Some(pos) = path.iter().position(|&n| n == up) {
                    let cycle: Vec<String> = path[pos..].iter().chain(std::iter::once(&up)).map(|n| n.to_string()).collect();
                    return Err(format!("the tree has a cycle: {}", cycle.join(" -> ")));
                }
                path.push(up);
                at = up;
            }
            reaches_root.extend(path);
        }
        let roots: BTreeSet<NodeId> = parent.values().copied().filter(|p| !parent.contains_key(p)).collect();
        let mut it = roots.iter();
        match (it.next(), it.next()) {
            (Some(&root), None) => Ok(Tree { parent, root }),
            (Some(a), Some(b)) => {
                Err(format!("the tree has two roots, {a} and {b}: exactly one node may be without a parent (it starts with the token)"))
            }
            // Unreachable after the cycle check, but answer rather than panic.
            (None, _) => Err("the tree has no root: every node has a parent, so it has a cycle".into()),
        }
    }

    /// Why this tree does not fit the scenario's nodes, or `None` when it
    /// names each of them exactly once.
    pub fn mismatch(&self, nodes: &[NodeId]) -> Option<String> {
        let in_tree = |n: NodeId| n == self.root || self.parent.contains_key(&n);
        if self.parent.len() + 1 == nodes.len() && nodes.iter().all(|&n| in_tree(n)) {
            return None;
        }
        let listed: BTreeSet<NodeId> = nodes.iter().copied().collect();
        let unknown: Vec<String> =
            std::iter::once(self.root).chain(self.parent.keys().copied()).filter(|n| !listed.contains(n)).map(|n| n.to_string()).collect();
        let missing: Vec<String> = nodes.iter().filter(|&&n| !in_tree(n)).map(|n| n.to_string()).collect();
        let mut why = Vec::new();
        if !unknown.is_empty() {
            why.push(format!("names unknown node(s) {}", unknown.join(", ")));
        }
        if !missing.is_empty() {
            why.push(format!("leaves out node(s) {} (not connected)", missing.join(", ")));
        }
        if why.is_empty() {
            why.push("does not match the node list".into());
        }
        Some(why.join(" and "))
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub hold: Option<Dur>,
    /// The spanning tree as `{child: parent}` (default: a balanced binary tree).
    #[serde(default)]
    pub tree: Option<Tree>,
}

pub const PARAMS: &[crate::algorithms::registry::ParamSpec] = &[
    super::HOLD,
    crate::algorithms::registry::ParamSpec {
        name: "tree",
        help: "the spanning tree as {child: parent, ...}; its root starts with the token (default: balanced binary tree over the node order, first node at the root)",
    },
];

/// The parent of the node at `index` in the default tree (`None` at the root).
pub fn default_parent(nodes: &[NodeId], index: usize) -> Option<NodeId> {
    if index == 0 { None } else { nodes.get((index - 1) / 2).copied() }
}

pub struct RaymondNode {
    id: NodeId,
    cs: Cs,
    /// Itself when it has the token, otherwise the neighbour toward it;
    /// `None` after a crash lost the token here (nowhere to ask).
    holder: Option<NodeId>,
    request_q: VecDeque<NodeId>,
    /// A `REQUEST` is outstanding toward `holder`.
    asked: bool,
    /// Notes for the start of the trace (the tree, the token, a replaced tree).
    start_notes: Vec<String>,
}

impl RaymondNode {
    fn has_token(&self) -> bool {
        self.holder == Some(self.id)
    }

    /// The paper's ASSIGN_PRIVILEGE: an idle holder hands the token to the
    /// head of its queue.
    fn assign_privilege(&mut self, ctx: &mut Ctx<'_, Self>) {
        while self.has_token() && self.cs.phase != Phase::Inside {
            let Some(next) = self.request_q.pop_front() else { return };
            self.asked = false;
            if next == self.id {
                // Only a live request of this node is queued under its id;
                // anything else is skipped rather than entered.
                if self.cs.phase == Phase::Requesting {
                    self.cs.enter(ctx, Timer::Hold);
                }
            } else {
                self.holder = Some(next);
                ctx.send(next, Msg::Privilege);
            }
        }
    }

    /// The paper's MAKE_REQUEST: a non-holder with waiting requests asks
    /// `holder` once.
    fn make_request(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Some(h) = self.holder
            && h != self.id
            && !self.request_q.is_empty()
            && !self.asked
        {
            self.asked = true;
            ctx.send(h, Msg::Request);
        }
    }

    fn settle(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.assign_privilege(ctx);
        self.make_request(ctx);
    }

    fn ask(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.emit(Cs::asked(None));
        self.request_q.push_back(self.id);
        self.settle(ctx);
    }

    fn leave(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.cs.exit(ctx) {
            return;
        }
        if self.cs.after_exit() == Next::Ask {
            // Behind whoever already waits: enters again at once only if nobody does.
            ctx.emit(Cs::asked(None));
            self.request_q.push_back(self.id);
        }
        self.settle(ctx);
    }
}

/// Lists `child->parent` edges for the start note, shortened on big trees.
fn describe_edges(edges: impl Iterator<Item = (NodeId, NodeId)>) -> String {
    const SHOWN: usize = 24;
    let all: Vec<String> = edges.map(|(c, p)| format!("{c}->{p}")).collect();
    if all.len() > SHOWN { format!("{}, ... ({} edges)", all[..SHOWN].join(", "), all.len()) } else { all.join(", ") }
}

super::cs_node!(RaymondNode);

impl Process for RaymondNode {
    type Msg = Msg;
    type Timer = Timer;
    type Params = Params;

    fn new(id: NodeId, setup: &Setup<'_, Params>) -> Self {
        let nodes = setup.nodes;
        let mut start_notes = Vec::new();
        let given = match &setup.params.tree {
            Some(tree) => match tree.mismatch(nodes) {
                None => Some(tree),
                Some(why) => {
                    if setup.index == 0 {
                        start_notes.push(format!("The tree in params {why}: using the default binary tree instead."));
                    }
                    None
                }
            },
            None => None,
        };
        let (holder, root) = match given {
            Some(tree) => (tree.parent.get(&id).copied().unwrap_or(id), tree.root),
            None => (default_parent(nodes, setup.index).unwrap_or(id), nodes.first().copied().unwrap_or(id)),
        };
        if id == root {
            let edges = match given {
                Some(tree) => describe_edges(tree.parent.iter().map(|(&c, &p)| (c, p))),
                None => describe_edges(nodes.iter().enumerate().skip(1).filter_map(|(i, &c)| default_parent(nodes, i).map(|p| (c, p)))),
            };
            if edges.is_empty() {
                start_notes.push(format!("Site {id} has the token."));
            } else {
                start_notes.push(format!("Site {id} has the token at the root of the tree {edges}."));
            }
        }
        RaymondNode { id, cs: Cs::new(setup.params.hold), holder: Some(holder), request_q: VecDeque::new(), asked: false, start_notes }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        for note in std::mem::take(&mut self.start_notes) {
            ctx.emit(Observation::Note(note));
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request => {
                if !self.request_q.contains(&from) {
                    self.request_q.push_back(from);
                }
            }
            Msg::Privilege => self.holder = Some(self.id),
        }
        self.settle(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: Timer) {
        self.leave(ctx);
    }

    fn on_command(&mut self, ctx: &mut Ctx<'_, Self>, cmd: &Command) {
        super::on_command(self, ctx, cmd);
    }

    fn on_recover(&mut self, _: &mut Ctx<'_, Self>) {
        // The queue, `asked` and the token are volatile; the pointer toward
        // a neighbour is the tree's shape and survives. A token held here
        // is gone and not regenerated.
        self.cs.reset();
        self.request_q.clear();
        self.asked = false;
        if self.has_token() {
            self.holder = None;
        }
    }

    fn checkers() -> Vec<Box<dyn Checker<Self>>> {
        vec![Box::new(MutexChecker::new(false))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(edges: &[(NodeId, NodeId)]) -> Result<Tree, String> {
        Tree::from_parents(edges.iter().copied().collect::<BTreeMap<_, _>>())
    }

    #[test]
    fn a_valid_tree_has_one_root() {
        let t = tree(&[(2, 1), (3, 1), (4, 2)]).expect("valid");
        assert_eq!(t.root, 1);
        assert_eq!(t.mismatch(&[1, 2, 3, 4]), None);
        assert_eq!(t.mismatch(&[4, 3, 2, 1]), None);
    }

    #[test]
    fn cycles_self_loops_two_roots_and_empty_trees_are_rejected() {
        assert!(tree(&[(2, 3), (3, 2), (4, 1)]).expect_err("cycle").contains("cycle: "));
        assert!(tree(&[(1, 2), (2, 3), (3, 1)]).expect_err("cycle").contains("cycle"));
        assert!(tree(&[(2, 2)]).expect_err("self").contains("its own parent"));
        assert!(tree(&[(2, 1), (4, 3)]).expect_err("two roots").contains("two roots, 1 and 3"));
        assert!(tree(&[]).expect_err("empty").contains("no edge"));
    }

    #[test]
    fn unknown_and_missing_nodes_are_found_at_run_time() {
        let t = tree(&[(2, 1), (3, 1)]).expect("valid");
        assert!(t.mismatch(&[1, 2, 3, 4]).expect("missing").contains("leaves out node(s) 4"));
        assert!(t.mismatch(&[1, 2]).expect("unknown").contains("unknown node(s) 3"));
        let t = tree(&[(2, 9), (3, 2)]).expect("valid");
        assert!(t.mismatch(&[1, 2, 3]).expect("unknown").contains("unknown node(s) 9"));
    }

    #[test]
    fn the_params_block_rejects_a_cycle_when_it_is_parsed() {
        let e = serde_yaml::from_str::<Params>("tree: {2: 3, 3: 2, 4: 1}").expect_err("cycle");
        assert!(e.to_string().contains("cycle"), "{e}");
        let e = serde_yaml::from_str::<Params>("tree: {2: 1, 3: 2, 2: 3}").expect_err("two parents");
        assert!(e.to_string().contains("node 2 is given two parents, 1 and 3"), "{e}");
        let e = serde_yaml::from_str::<Params>("tree: [1, 2]").expect_err("not a map");
        assert!(e.to_string().contains("a map of node id to parent id"), "{e}");
        let p = serde_yaml::from_str::<Params>("tree: {2: 1, 3: 2}\nhold: 1ms").expect("valid");
        assert_eq!(p.tree.map(|t| t.root), Some(1));
    }
}
