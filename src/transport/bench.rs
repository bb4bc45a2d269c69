//! `distlab bench --workload transport`: what the real transports cost per
//! message in lockstep, against bare loops on the same machine.
//!
//! The workload is the one [`crate::bench::ricart_agrawala_plan`] builds:
//! `mutex.ricart-agrawala` on N nodes (10 by default), each asking for the
//! critical section K times at 0ms, latency 1ms..3ms, seed 1. Messages
//! dominate it: every entry costs 2(N−1) messages and one hold timer. It runs
//! quiet (summary and checks only) on every transport — `sim`, `udp`, `tcp`,
//! `multicast`, `file` — through the same path as `distlab run --transport`.
//! A transport's cost per message is the run's wall time divided by the
//! messages sent (a multicast broadcast counts once per receiver, as in the
//! trace, although it is one datagram).
//!
//! In the same process it measures the floors the transports are compared
//! with, each moving frames of the workload's mean frame size (frame header +
//! mean encoded message) in the lockstep pattern — write at one end, read at
//! the other, one message at a time, no engine, no codec:
//!
//! - **bare UDP**: `send_to` from one 127.0.0.1 socket, `recv_from` at another;
//! - **bare TCP**: one `write_all` and one `read_exact` over one loopback
//!   connection with `TCP_NODELAY`;
//! - **bare file**: append a line to a file, read it back through a `BufReader`.
//!
//! `udp` and `multicast` are compared with bare UDP, `tcp` with bare TCP,
//! `file` with bare file. The target is lockstep UDP within
//! [`UDP_TARGET_RATIO`] times the bare UDP cost.
//!
//! The codec is timed alone too: the workload's own messages (recorded from an
//! in-memory run) are encoded into a reused buffer and decoded, as
//! [`super::codec`] does for every carried message.
//!
//! Every figure is the median of the repetitions; a repetition runs every
//! transport and every bare loop once, interleaved, so that a change of load
//! moves both sides of a ratio. Every loop has a fixed count, every socket
//! a read timeout, and no repetition starts after [`TIME_BUDGET`]
//! (the first always runs), so the benchmark ends by itself.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::frame::HEADER_LEN;
use super::{Carrier, TransportError, TransportKind, WireStats, codec};
use crate::algorithms::mutex::ricart_agrawala::{Msg, RaNode};
use crate::bench::{BenchError, median, ricart_agrawala_plan};
use crate::engine::{Format, Limits, RunOptions, Runner, parse_params};
use crate::process::Process;
use crate::scenario::Plan;
use crate::trace::event::NullSink;

/// Nodes of the default workload.
pub const DEFAULT_NODES: u32 = 10;
/// Requests per node of the default workload: 10 × 200 entries × 18 = 36,000 messages.
pub const DEFAULT_REQUESTS: u32 = 200;
/// Target: lockstep UDP costs at most this many times the bare UDP loop per message.
pub const UDP_TARGET_RATIO: f64 = 3.0;
/// No new repetition starts once the measurement has run this long (the
/// first one always runs).
pub const TIME_BUDGET: Duration = Duration::from_secs(60);
/// How long a bare loop waits for one frame before it gives up.
const BARE_TIMEOUT: Duration = Duration::from_secs(5);
/// The codec loop handles at least this many messages per repetition.
const CODEC_MIN_MESSAGES: usize = 200_000;

/// Why the transport benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum TransportBenchError {
    #[error(transparent)]
    Bench(#[from] BenchError),
    #[error(transparent)]
    Run(#[from] crate::engine::RunError),
    #[error("the Ricart-Agrawala run on {transport} failed its checks: {detail}")]
    Checks { transport: TransportKind, detail: String },
    #[error("on {transport} the run sent {got} messages, {expected} in memory: the runs differ")]
    Messages { transport: TransportKind, expected: u64, got: u64 },
    #[error("the bare {what} loop: {source}")]
    Bare {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the codec could not handle a message of the workload: {0}")]
    Codec(String),
    #[error("the transport workload needs 2 or more nodes and 1 or more requests (got {nodes} nodes, {requests} requests)")]
    Size { nodes: u32, requests: u32 },
}

/// One transport's medians.
#[derive(Clone, Debug, Serialize)]
pub struct TransportRow {
    pub transport: TransportKind,
    /// Messages sent in one run (a broadcast counts once per receiver).
    pub messages: u64,
    /// Frames written in one run (0 in memory; a multicast broadcast is one).
    pub frames: u64,
    /// Payload bytes written in one run.
    pub bytes: u64,
    /// Repetitions done (fewer than asked when the time budget ran out).
    pub runs: usize,
    /// Median wall time of one run, milliseconds.
    pub run_ms: f64,
    pub messages_per_s: f64,
    pub us_per_message: f64,
    /// The bare loop this row is compared with (`None` in memory).
    pub baseline: Option<&'static str>,
    /// `us_per_message` / the baseline's.
    pub ratio: Option<f64>,
}

/// One bare loop's medians.
#[derive(Clone, Debug, Serialize)]
pub struct BareRow {
    /// `udp`, `tcp` or `file`.
    pub name: &'static str,
    /// Bytes of each frame moved (header + mean message).
    pub frame_bytes: usize,
    /// Frames per repetition.
    pub messages: u64,
    pub runs: usize,
    pub messages_per_s: f64,
    pub us_per_message: f64,
}

/// The codec alone on the workload's messages.
#[derive(Clone, Debug, Serialize)]
pub struct CodecRow {
    pub codec: &'static str,
    /// Messages recorded from one in-memory run, in the order sent (the loop cycles them).
    pub messages: usize,
    /// Mean encoded size, bytes.
    pub mean_bytes: f64,
    pub encode_ns: f64,
    pub decode_ns: f64,
    /// Encode + decode, as one carried message costs.
    pub ns_per_message: f64,
    /// `ns_per_message` as a share of lockstep UDP's cost per message.
    pub share_of_udp: Option<f64>,
}

/// The whole report of `distlab bench --workload transport` for one size.
#[derive(Clone, Debug, Serialize)]
pub struct TransportReport {
    pub workload: &'static str,
    pub nodes: u32,
    pub requests: u32,
    /// 2(N−1) · N · K: the textbook count of one run.
    pub expected_messages: u64,
    pub rows: Vec<TransportRow>,
    pub bare: Vec<BareRow>,
    pub codec: CodecRow,
    pub udp_target_ratio: f64,
    pub udp_target_met: bool,
}

/// 2(N−1) messages per entry, N·K entries.
pub fn expected_messages(nodes: u32, requests: u32) -> u64 {
    2 * u64::from(nodes - 1) * u64::from(nodes) * u64::from(requests)
}

/// Which bare loop a transport is compared with.
fn baseline_of(kind: TransportKind) -> Option<&'static str> {
    match kind {
        TransportKind::Sim => None,
        TransportKind::Udp | TransportKind::Multicast => Some("udp"),
        TransportKind::Tcp => Some("tcp"),
        TransportKind::File => Some("file"),
    }
}

/// Runs the workload once on `kind`, quiet; returns the report and the wall time.
fn run_on(plan: &Plan, kind: TransportKind) -> Result<(crate::report::RunReport, Duration), TransportBenchError> {
    let plan = Plan { transport: kind, ..plan.clone() };
    let opts = RunOptions { format: Format::Quiet, limits: Limits::default() };
    let start = Instant::now();
    let report = (plan.algorithm.run)(&plan, &opts, &mut io::sink())?;
    let took = start.elapsed();
    if !report.passed() {
        let detail = report.failures().map(|r| format!("{}: {}", r.name, r.detail)).collect::<Vec<_>>().join("; ");
        return Err(TransportBenchError::Checks { transport: kind, detail });
    }
    Ok((black_box(report), took))
}

/// Measures the transport workload on `nodes` nodes, `requests` each, with
/// `runs` repetitions per row.
pub fn measure(nodes: u32, requests: u32, runs: usize) -> Result<TransportReport, TransportBenchError> {
    if nodes < 2 || requests == 0 {
        return Err(TransportBenchError::Size { nodes, requests });
    }
    let plan = ricart_agrawala_plan(nodes, requests)?;
    let expected = expected_messages(nodes, requests);
    let runs = runs.max(1);

    // The workload's messages, as the runner encodes them.
    let payloads = record_payloads(&plan)?;
    let mean_payload = payloads.iter().map(Vec::len).sum::<usize>() as f64 / payloads.len().max(1) as f64;
    let frame_bytes = HEADER_LEN + mean_payload.round() as usize;

    const KINDS: [TransportKind; 5] =
        [TransportKind::Sim, TransportKind::Udp, TransportKind::Tcp, TransportKind::Multicast, TransportKind::File];
    const BARE: [(&str, BareLoop); 3] = [("udp", bare_udp), ("tcp", bare_tcp), ("file", bare_file)];
    let bare_count = expected.clamp(1_000, 200_000);

    // Warm-up: one run per transport fixes the counts and checks the verdicts;
    // one short pass of each bare loop.
    let mut firsts = Vec::new();
    for kind in KINDS {
        let (first, _) = run_on(&plan, kind)?;
        let got = first.stats.sent.total();
        if got != expected {
            return Err(TransportBenchError::Messages { transport: kind, expected, got });
        }
        firsts.push(first.wire);
    }
    for (name, bare) in BARE {
        bare(frame_bytes, bare_count.min(1_000)).map_err(|source| TransportBenchError::Bare { what: name, source })?;
    }

    // The repetitions interleave every transport and every bare loop, so that
    // a change of machine load moves both sides of a ratio alike.
    let mut times: [Vec<f64>; 5] = Default::default();
    let mut bare_times: [Vec<f64>; 3] = Default::default();
    let start = Instant::now();
    while times[0].len() < runs && (times[0].is_empty() || start.elapsed() < TIME_BUDGET) {
        for (k, kind) in KINDS.into_iter().enumerate() {
            let (report, took) = run_on(&plan, kind)?;
            let got = report.stats.sent.total();
            if got != expected {
                return Err(TransportBenchError::Messages { transport: kind, expected, got });
            }
            times[k].push(took.as_secs_f64());
        }
        for (k, (name, bare)) in BARE.into_iter().enumerate() {
            let took = bare(frame_bytes, bare_count).map_err(|source| TransportBenchError::Bare { what: name, source })?;
            bare_times[k].push(took.as_secs_f64());
        }
    }
    let done = times[0].len();
    let bare: Vec<BareRow> = BARE
        .iter()
        .zip(bare_times.iter_mut())
        .map(|(&(name, _), t)| {
            let secs = median(t);
            BareRow {
                name,
                frame_bytes,
                messages: bare_count,
                runs: done,
                messages_per_s: bare_count as f64 / secs,
                us_per_message: secs * 1e6 / bare_count as f64,
            }
        })
        .collect();
    let rows: Vec<TransportRow> = KINDS
        .iter()
        .zip(times.iter_mut())
        .zip(&firsts)
        .map(|((&kind, t), wire)| {
            let secs = median(t);
            let us_per_message = secs * 1e6 / expected as f64;
            let baseline = baseline_of(kind);
            let ratio = baseline.and_then(|name| bare.iter().find(|b| b.name == name)).map(|b| us_per_message / b.us_per_message);
            TransportRow {
                transport: kind,
                messages: expected,
                frames: wire.frames,
                bytes: wire.bytes,
                runs: done,
                run_ms: secs * 1e3,
                messages_per_s: expected as f64 / secs,
                us_per_message,
                baseline,
                ratio,
            }
        })
        .collect();
    let mut codec = codec_row(&payloads, runs)?;
    let udp = rows.iter().find(|r| r.transport == TransportKind::Udp).expect("udp was measured");
    codec.share_of_udp = Some(codec.ns_per_message / (udp.us_per_message * 1e3));
    let udp_target_met = udp.ratio.is_some_and(|r| r <= UDP_TARGET_RATIO);
    Ok(TransportReport {
        workload: "mutex.ricart-agrawala",
        nodes,
        requests,
        expected_messages: expected,
        rows,
        bare,
        codec,
        udp_target_ratio: UDP_TARGET_RATIO,
        udp_target_met,
    })
}

/// A carrier that hands every payload straight back and keeps a copy.
struct Recorder(Rc<RefCell<Vec<Vec<u8>>>>);

impl Carrier for Recorder {
    fn kind(&self) -> TransportKind {
        TransportKind::Udp
    }
    fn max_payload(&self) -> usize {
        usize::MAX
    }
    fn carry(&mut self, _from: u32, _to: u32, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.0.borrow_mut().push(payload.to_vec());
        Ok(payload.to_vec())
    }
    fn stats(&self) -> WireStats {
        WireStats::default()
    }
}

/// The encoded messages of one in-memory run of `plan`, in the order sent.
fn record_payloads(plan: &Plan) -> Result<Vec<Vec<u8>>, TransportBenchError> {
    let plan = Plan { transport: TransportKind::Sim, ..plan.clone() };
    let params = parse_params::<RaNode>(&plan)?;
    let mut runner = Runner::<RaNode>::new(&plan, &params, RaNode::checkers(), Limits::default());
    let log = Rc::new(RefCell::new(Vec::new()));
    runner.set_carrier(Box::new(Recorder(Rc::clone(&log))));
    runner.run(&mut NullSink);
    if let Some(e) = runner.wire_error.take() {
        return Err(TransportBenchError::Codec(e));
    }
    drop(runner);
    Ok(Rc::try_unwrap(log).map(RefCell::into_inner).unwrap_or_default())
}

/// Times the codec on `payloads`: encode into a reused buffer, decode, and
/// both, over at least [`CODEC_MIN_MESSAGES`] messages per repetition.
fn codec_row(payloads: &[Vec<u8>], runs: usize) -> Result<CodecRow, TransportBenchError> {
    let msgs: Vec<Msg> = payloads.iter().map(|p| codec::decode::<Msg>(p)).collect::<Result<_, _>>().map_err(TransportBenchError::Codec)?;
    if msgs.is_empty() {
        return Err(TransportBenchError::Codec("the workload sent no message".into()));
    }
    let rounds = CODEC_MIN_MESSAGES.div_ceil(msgs.len()).max(1);
    let total = (rounds * msgs.len()) as f64;
    let mut buf = Vec::with_capacity(256);
    let (mut enc, mut dec, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let start = Instant::now();
        for _ in 0..rounds {
            for m in &msgs {
                buf.clear();
                codec::encode(m, &mut buf).map_err(TransportBenchError::Codec)?;
                black_box(&buf);
            }
        }
        enc.push(start.elapsed().as_secs_f64() * 1e9 / total);
        let start = Instant::now();
        for _ in 0..rounds {
            for p in payloads {
                black_box(codec::decode::<Msg>(black_box(p)).map_err(TransportBenchError::Codec)?);
            }
        }
        dec.push(start.elapsed().as_secs_f64() * 1e9 / total);
        let start = Instant::now();
        for _ in 0..rounds {
            for m in &msgs {
                buf.clear();
                codec::encode(m, &mut buf).map_err(TransportBenchError::Codec)?;
                black_box(codec::decode::<Msg>(&buf).map_err(TransportBenchError::Codec)?);
            }
        }
        both.push(start.elapsed().as_secs_f64() * 1e9 / total);
    }
    Ok(CodecRow {
        codec: "serde_json",
        messages: msgs.len(),
        mean_bytes: payloads.iter().map(Vec::len).sum::<usize>() as f64 / payloads.len() as f64,
        encode_ns: median(&mut enc),
        decode_ns: median(&mut dec),
        ns_per_message: median(&mut both),
        share_of_udp: None,
    })
}

/// A bare loop: moves `count` frames of `frame_bytes` and returns the time taken.
type BareLoop = fn(usize, u64) -> io::Result<Duration>;

/// A frame of `len` bytes that looks like a frame: magic, then JSON-ish bytes.
fn fake_frame(len: usize) -> Vec<u8> {
    let mut f = b"DLW1".to_vec();
    f.resize(len.max(4), b'x');
    f
}

/// Bare UDP: `count` times, `send_to` one frame from socket A to socket B on
/// 127.0.0.1 and `recv_from` it at B.
pub fn bare_udp(frame_bytes: usize, count: u64) -> io::Result<Duration> {
    let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    b.set_read_timeout(Some(BARE_TIMEOUT))?;
    let dest = b.local_addr()?;
    let frame = fake_frame(frame_bytes);
    let mut buf = vec![0u8; super::udp::MAX_DATAGRAM + 1];
    let start = Instant::now();
    for _ in 0..count {
        a.send_to(&frame, dest)?;
        let (len, _) = b.recv_from(&mut buf)?;
        if len != frame.len() {
            return Err(io::Error::other(format!("received {len} bytes, sent {}", frame.len())));
        }
    }
    let took = start.elapsed();
    black_box(&buf);
    Ok(took)
}

/// Bare TCP: one loopback connection with `TCP_NODELAY`; `count` times,
/// `write_all` one frame (a 4-byte length and the rest) at one end and
/// `read_exact` it at the other.
pub fn bare_tcp(frame_bytes: usize, count: u64) -> io::Result<Duration> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let mut out = TcpStream::connect_timeout(&listener.local_addr()?, BARE_TIMEOUT)?;
    let (mut inc, _) = listener.accept()?;
    out.set_nodelay(true)?;
    inc.set_nodelay(true)?;
    inc.set_read_timeout(Some(BARE_TIMEOUT))?;
    let len = frame_bytes + 4;
    let mut frame = vec![b'x'; len];
    frame[..4].copy_from_slice(&(frame_bytes as u32).to_be_bytes());
    let mut buf = vec![0u8; len];
    let start = Instant::now();
    for _ in 0..count {
        out.write_all(&frame)?;
        inc.read_exact(&mut buf)?;
    }
    let took = start.elapsed();
    black_box(&buf);
    Ok(took)
}

/// Bare file: `count` times, append one line of `frame_bytes` bytes to a file
/// (opened in append mode) in the temporary directory and read it back
/// through a `BufReader`.
pub fn bare_file(frame_bytes: usize, count: u64) -> io::Result<Duration> {
    let path = std::env::temp_dir().join(format!("distlab-bare-file-{}.inbox", std::process::id()));
    let result = (|| {
        let _ = std::fs::remove_file(&path);
        // Append mode, as the file transport's inboxes.
        let mut writer = OpenOptions::new().create(true).append(true).open(&path)?;
        let mut reader = BufReader::new(File::open(&path)?);
        let mut line = vec![b'x'; frame_bytes.max(1)];
        *line.last_mut().expect("not empty") = b'\n';
        let mut buf = String::with_capacity(line.len());
        let start = Instant::now();
        for _ in 0..count {
            writer.write_all(&line)?;
            writer.flush()?;
            buf.clear();
            if reader.read_line(&mut buf)? != line.len() {
                return Err(io::Error::other("a line came back short"));
            }
        }
        let took = start.elapsed();
        black_box(&buf);
        Ok(took)
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// The report as an aligned table.
pub fn table(r: &TransportReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "workload: {}, {} nodes, {} requests each: {} messages per run (2(N-1) per entry)",
        r.workload, r.nodes, r.requests, r.expected_messages
    );
    let _ = writeln!(
        s,
        "{:>10}  {:>8}  {:>8}  {:>5}  {:>10}  {:>11}  {:>8}  {:>9}  {:>7}",
        "transport", "messages", "frames", "runs", "run ms", "msgs/s", "us/msg", "vs bare", "ratio"
    );
    for row in &r.rows {
        let ratio = row.ratio.map_or("-".to_string(), |x| format!("{x:.2}x"));
        let _ = writeln!(
            s,
            "{:>10}  {:>8}  {:>8}  {:>5}  {:>10.1}  {:>11.0}  {:>8.2}  {:>9}  {:>7}",
            row.transport.name(),
            row.messages,
            row.frames,
            row.runs,
            row.run_ms,
            row.messages_per_s,
            row.us_per_message,
            row.baseline.unwrap_or("-"),
            ratio
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{:>10}  {:>8}  {:>8}  {:>5}  {:>11}  {:>8}", "bare loop", "frame B", "frames", "runs", "msgs/s", "us/msg");
    for b in &r.bare {
        let _ = writeln!(
            s,
            "{:>10}  {:>8}  {:>8}  {:>5}  {:>11.0}  {:>8.2}",
            b.name, b.frame_bytes, b.messages, b.runs, b.messages_per_s, b.us_per_message
        );
    }
    let c = &r.codec;
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "codec {}: {} messages of {:.1} bytes on average: encode {:.0} ns, decode {:.0} ns, both {:.0} ns per message ({:.1}% of lockstep udp)",
        c.codec,
        c.messages,
        c.mean_bytes,
        c.encode_ns,
        c.decode_ns,
        c.ns_per_message,
        c.share_of_udp.unwrap_or(0.0) * 100.0
    );
    let udp = r.rows.iter().find(|x| x.transport == TransportKind::Udp).and_then(|x| x.ratio).unwrap_or(f64::NAN);
    let _ = writeln!(
        s,
        "target: lockstep udp <= {:.0}x bare udp per message: {:.2}x, {}",
        r.udp_target_ratio,
        udp,
        if r.udp_target_met { "met" } else { "MISSED" }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_loops_move_frames() {
        for bare in [bare_udp, bare_tcp, bare_file] {
            bare(60, 50).unwrap();
        }
    }

    #[test]
    fn the_workload_messages_are_recorded_and_decode() {
        let plan = ricart_agrawala_plan(3, 2).unwrap();
        let payloads = record_payloads(&plan).unwrap();
        assert_eq!(payloads.len() as u64, expected_messages(3, 2));
        let row = codec_row(&payloads, 1).unwrap();
        assert_eq!(row.messages, payloads.len());
        assert!(row.mean_bytes > 2.0);
    }
}
