//! `distlab cluster`: start one `distlab node` process per node, hand them
//! each other's addresses and a common start instant, collect their records,
//! then merge and judge the run ([`super::merge`]).
//!
//! Every wait has a deadline: nodes must report ready within
//! `startup_timeout`, and finish within the run's length plus a grace period;
//! otherwise the run ends with a message naming the node. Children are killed
//! and reaped on every exit path — success, a failed node, a timeout, Ctrl-C
//! (SIGINT/SIGTERM are caught while the cluster runs) — and a node whose
//! parent vanished sees its stdin close and exits by itself.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, Socket, Type};

use super::merge::Collected;
use super::record::{EndRec, ParentLine, RawRecord, Start};
use super::{LiveError, duration_of};
use crate::process::{Nanos, NodeId};
use crate::report::RunReport;
use crate::scenario::{Action, Plan};
use crate::transport::{TransportKind, TransportOptions};

#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub transport: TransportKind,
    pub wire: TransportOptions,
    /// The multicast interface the user named; `None`: each node's own
    /// bound address (127.0.0.1, or its namespace's address).
    pub interface: Option<std::net::Ipv4Addr>,
    /// Run length when the scenario sets no `until`: last step + this.
    pub settle: Nanos,
    /// Run length, overriding the scenario.
    pub duration: Option<Nanos>,
    /// A command prefix for each node, `{id}` and `{index}` replaced (e.g.
    /// `ip netns exec dl{index}`).
    pub wrap: Option<String>,
    /// The address each node binds to, `{id}` and `{index}` replaced
    /// (default 127.0.0.1).
    pub bind: Option<String>,
    pub quiet: bool,
    /// The `distlab` executable the nodes run.
    pub exe: PathBuf,
    /// The scenario file the nodes load.
    pub file: PathBuf,
    pub seed: Option<u64>,
    pub startup_timeout: Duration,
    /// Keep each node's records as `node-<id>.jsonl` here.
    pub trace_dir: Option<PathBuf>,
    /// Stop the nodes once the timeline is over and no node has reported an
    /// event for this long (the run's work is done), instead of at the end.
    pub stop_when_idle: Option<Duration>,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches SIGINT and SIGTERM while the cluster runs, so that the children
/// are reaped before the parent exits; the default actions come back when
/// the guard is dropped.
fn catch_signals() -> SignalGuard {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    SignalGuard
}

struct SignalGuard;

impl Drop for SignalGuard {
    fn drop(&mut self) {
        // SAFETY: restores the default dispositions.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
        }
    }
}

/// The children: killed and reaped when dropped, whatever happened.
struct Kids {
    children: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
}

impl Kids {
    fn reap(&mut self, grace: Duration) {
        self.stdins.iter_mut().for_each(|s| drop(s.take()));
        let deadline = Instant::now() + grace;
        for c in self.children.iter_mut() {
            loop {
                match c.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                    Ok(None) => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                }
            }
        }
    }
}

impl Drop for Kids {
    fn drop(&mut self) {
        self.reap(Duration::from_millis(200));
    }
}

enum FromKid {
    /// A control line (ready, end, error).
    Line(usize, String),
    /// The child's stdout closed; its event lines, in order.
    Eof(usize, Vec<String>),
}

fn fill(template: &str, id: NodeId, index: usize) -> String {
    template.replace("{id}", &id.to_string()).replace("{index}", &(index + 1).to_string())
}

fn unix_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Runs `plan` as a live cluster and writes the merged trace, summary and
/// checks to `out`.
pub fn run_cluster(plan: &Plan, opts: &ClusterOptions, out: &mut dyn Write) -> Result<RunReport, LiveError> {
    if plan.script.is_some() {
        return Err(LiveError::Setup("live mode runs YAML timelines; a Lua scenario's hooks need the simulator (distlab run)".into()));
    }
    if !matches!(opts.transport, TransportKind::Udp | TransportKind::Tcp | TransportKind::Multicast) {
        return Err(LiveError::Setup(format!("live mode runs over udp, tcp or multicast, not {}", opts.transport)));
    }
    let mut duration = opts.duration.unwrap_or_else(|| duration_of(plan, opts.settle));
    let stop_at = plan.timeline.iter().find(|(_, a)| matches!(a, Action::Stop)).map(|(t, _)| *t);
    let stopped = stop_at.is_some_and(|t| t <= duration);
    if let Some(t) = stop_at.filter(|&t| t <= duration) {
        duration = t;
    }
    let run = crate::transport::frame::new_run_id();
    // Multicast: hold the group's port while the nodes bind it too.
    let mut group_port = 0;
    let _holder = if opts.transport == TransportKind::Multicast {
        let g = opts.wire.group;
        if !g.is_multicast() {
            return Err(LiveError::Setup(format!("{g} is not a multicast group (224.0.0.0/4)")));
        }
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(LiveError::io("open a socket"))?;
        s.set_reuse_address(true).map_err(LiveError::io("share the group port"))?;
        group_port = crate::transport::multicast::free_group_port(g).map_err(LiveError::io(format!("find a free port on {g}")))?;
        s.bind(&SocketAddrV4::new(g, group_port).into()).map_err(LiveError::io(format!("bind to the group {g}")))?;
        Some(s)
    } else {
        None
    };

    INTERRUPTED.store(false, Ordering::SeqCst);
    let _signals = catch_signals();
    let n = plan.nodes.len();
    let (tx, rx) = mpsc::channel::<FromKid>();
    // When the latest event line arrived, in ns since `epoch`.
    let epoch = Instant::now();
    let activity = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut kids = Kids { children: Vec::with_capacity(n), stdins: Vec::with_capacity(n) };
    let mut stderrs: Vec<Arc<Mutex<String>>> = Vec::with_capacity(n);
    for (index, &id) in plan.nodes.iter().enumerate() {
        let mut words: Vec<String> =
            opts.wrap.as_deref().map(|w| fill(w, id, index).split_whitespace().map(String::from).collect()).unwrap_or_default();
        words.push(opts.exe.display().to_string());
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..]);
        cmd.arg("node").arg(&opts.file).args(["--id", &id.to_string(), "--transport", opts.transport.name()]);
        cmd.args(["--run-id", &run.to_string(), "--duration-ns", &duration.to_string()]);
        cmd.args(["--group", &opts.wire.group.to_string()]);
        if let Some(i) = opts.interface {
            cmd.args(["--interface", &i.to_string()]);
        }
        cmd.args(["--ttl", &opts.wire.ttl.to_string(), "--group-port", &group_port.to_string()]);
        if let Some(b) = &opts.bind {
            cmd.args(["--bind", &fill(b, id, index)]);
        }
        if let Some(s) = opts.seed {
            cmd.args(["--seed", &s.to_string()]);
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Its own process group: Ctrl-C in the terminal reaches the parent
        // only, which stops the nodes itself and says "interrupted".
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().map_err(LiveError::io(format!("start node {id} ({})", words.join(" "))))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        kids.stdins.push(child.stdin.take());
        kids.children.push(child);
        let tx2 = tx.clone();
        let activity = activity.clone();
        std::thread::spawn(move || {
            // Event lines stay here until the end (the parent takes no CPU
            // from the nodes to parse them while they run); only the time of
            // the latest one is shared.
            let mut events = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("{\"t\":") {
                    events.push(line);
                    activity.store(epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
                } else if tx2.send(FromKid::Line(index, line)).is_err() {
                    return;
                }
            }
            let _ = tx2.send(FromKid::Eof(index, events));
        });
        let err = Arc::new(Mutex::new(String::new()));
        stderrs.push(err.clone());
        std::thread::spawn(move || {
            // Keep the first 64 KiB for error reports; drain the rest, so that
            // a chatty node never writes into a closed pipe.
            let mut reader = BufReader::new(stderr);
            let mut buf = Vec::new();
            let _ = (&mut reader).take(64 * 1024).read_to_end(&mut buf);
            *err.lock().unwrap() = String::from_utf8_lossy(&buf).into_owned();
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
    }
    drop(tx);
    let stderr_of = |i: usize| stderrs[i].lock().map(|s| s.trim().to_string()).unwrap_or_default();
    let name = |i: usize| plan.nodes[i];

    // Every node reports its address.
    let mut addrs: Vec<Option<SocketAddr>> = vec![None; n];
    let mut records: Vec<RawRecord> = Vec::new();
    let mut ends: Vec<EndRec> = Vec::new();
    let mut errors: BTreeMap<NodeId, String> = BTreeMap::new();
    let mut done = vec![false; n];
    let mut raw: Vec<Vec<String>> = vec![Vec::new(); if opts.trace_dir.is_some() { n } else { 0 }];
    let deadline = Instant::now() + opts.startup_timeout;
    while addrs.iter().any(Option::is_none) {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err(LiveError::Setup("interrupted: every node was stopped".into()));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok(FromKid::Line(i, line)) => match serde_json::from_str::<ParentLine>(&line) {
                Ok(ParentLine::Ready { ready }) => addrs[i] = Some(ready),
                Ok(ParentLine::Error { error }) => return Err(LiveError::Node { node: name(i), message: error }),
                _ => return Err(LiveError::Node { node: name(i), message: format!("unexpected line before ready: {line}") }),
            },
            Ok(FromKid::Eof(i, _)) => {
                kids.reap(Duration::from_millis(500));
                let e = stderr_of(i);
                return Err(LiveError::Node {
                    node: name(i),
                    message: format!("exited before it was ready{}", if e.is_empty() { String::new() } else { format!(": {e}") }),
                });
            }
            Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                let late: Vec<NodeId> = (0..n).filter(|&i| addrs[i].is_none()).map(name).collect();
                return Err(LiveError::Setup(format!("node(s) {late:?} did not report ready within {:?}", opts.startup_timeout)));
            }
            Err(_) => {}
        }
    }
    let peers: BTreeMap<NodeId, SocketAddr> = (0..n).map(|i| (name(i), addrs[i].expect("ready"))).collect();
    let lead = Duration::from_millis(200 + 2 * n as u64);
    let start = Start { start_unix_ns: unix_ns() + lead.as_nanos(), peers };
    let start_line = serde_json::to_string(&start).expect("serialisable") + "\n";
    for (i, s) in kids.stdins.iter_mut().enumerate() {
        if let Some(s) = s {
            s.write_all(start_line.as_bytes()).and_then(|_| s.flush()).map_err(LiveError::io(format!("start node {}", name(i))))?;
        }
    }
    let began = Instant::now() + lead;
    let last_step = plan.timeline.iter().map(|(t, _)| *t).max().unwrap_or(0);
    let mut pending: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut handed_over = vec![false; n];
    let mut idle_stop = false;
    let grace = Duration::from_secs(5) + Duration::from_millis(20 * n as u64);
    let deadline = began + Duration::from_nanos(duration) + grace;
    while done.iter().any(|d| !d) {
        if INTERRUPTED.load(Ordering::SeqCst) {
            kids.reap(Duration::from_millis(100));
            return Err(LiveError::Setup("interrupted: every node was stopped".into()));
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(FromKid::Line(i, line)) => {
                if !raw.is_empty() {
                    raw[i].push(line.clone());
                }
                match serde_json::from_str::<ParentLine>(&line) {
                    Ok(ParentLine::Event(r)) => records.push(r),
                    Ok(ParentLine::End { end }) => {
                        ends.push(end);
                        done[i] = true;
                    }
                    Ok(ParentLine::Error { error }) => {
                        errors.insert(name(i), error);
                        done[i] = true;
                    }
                    _ => {
                        errors.insert(name(i), format!("unreadable line: {line}"));
                    }
                }
            }
            Ok(FromKid::Eof(i, events)) => {
                pending[i] = events;
                handed_over[i] = true;
                if !done[i] {
                    done[i] = true;
                    let e = stderr_of(i);
                    errors.insert(
                        name(i),
                        format!("exited without an end state{}", if e.is_empty() { String::new() } else { format!(": {e}") }),
                    );
                }
            }
            Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                let late: Vec<NodeId> = (0..n).filter(|&i| !done[i]).map(name).collect();
                kids.reap(Duration::from_millis(100));
                return Err(LiveError::Setup(format!("node(s) {late:?} did not finish within {:?} after the run's end: stopped", grace)));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(idle) = opts.stop_when_idle
            && !idle_stop
            && Instant::now() >= began + Duration::from_nanos(last_step)
            && epoch.elapsed().saturating_sub(Duration::from_nanos(activity.load(Ordering::Relaxed)).max(began.duration_since(epoch)))
                >= idle
        {
            // The work is done: ask every node to stop (a second control line).
            idle_stop = true;
            for s in kids.stdins.iter_mut().flatten() {
                let _ = s.write_all(b"stop\n").and_then(|_| s.flush());
            }
        }
        if !errors.is_empty() && !INTERRUPTED.load(Ordering::SeqCst) {
            // One node failed: stop the others now rather than at the end.
            break;
        }
    }
    if INTERRUPTED.load(Ordering::SeqCst) {
        kids.reap(Duration::from_millis(100));
        return Err(LiveError::Setup("interrupted: every node was stopped".into()));
    }
    kids.reap(Duration::from_secs(2));
    // Wait for the readers to hand over the event lines of nodes that ended.
    let hand_over = Instant::now() + Duration::from_secs(5);
    while handed_over.iter().any(|c| !c) && Instant::now() < hand_over {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(FromKid::Eof(i, events)) => {
                pending[i] = events;
                handed_over[i] = true;
            }
            Ok(FromKid::Line(..)) => {}
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    if let Some(dir) = &opts.trace_dir {
        std::fs::create_dir_all(dir).map_err(LiveError::io(format!("create {}", dir.display())))?;
        for (i, control) in raw.iter().enumerate() {
            // In the order the node wrote them: ready, its events, its end state.
            let (last, first): (Vec<&String>, Vec<&String>) = control.iter().partition(|l| l.starts_with("{\"end\""));
            let lines: Vec<&String> = first.into_iter().chain(&pending[i]).chain(last).collect();
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let path = dir.join(format!("node-{}.jsonl", name(i)));
            std::fs::write(&path, text).map_err(LiveError::io(format!("write {}", path.display())))?;
        }
    }
    if let Some((node, message)) = errors.into_iter().next() {
        return Err(LiveError::Node { node, message });
    }
    for line in pending.into_iter().flatten() {
        match serde_json::from_str::<RawRecord>(&line) {
            Ok(r) => records.push(r),
            Err(e) => return Err(LiveError::Setup(format!("unreadable record ({e}): {line}"))),
        }
    }
    let last_t = records.iter().map(|r| r.t).max().unwrap_or(0);
    let (duration, idle) = if idle_stop { (last_t, true) } else { (duration, false) };
    let collected = Collected { records, ends, transport: opts.transport, duration, stopped, idle, quiet: opts.quiet };
    (plan.algorithm.live.merge)(plan, collected, out)
}
