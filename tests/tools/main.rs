//! The seed's tools through the real binary: `distlab multicast listen|send`
//! on 127.0.0.1 (a port the kernel picks for each test, a group in
//! 239.255.x.x derived from it, so parallel tests never share a chat), with
//! the seed's exact output lines, the `exit` line, the datagram limit, invalid
//! UTF-8 and option errors; the seed's Python client and server (when python3
//! is installed) on the other end; `distlab ipc write|read` with `--follow`,
//! the error cases and their exit codes; the seed's Java programs (when a JDK
//! is installed) on the other end. Every child is killed when its guard drops;
//! every wait is bounded.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest any one wait in these tests may take.
const WAIT: Duration = Duration::from_secs(20);

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_distlab"))
}

/// A running child, killed and reaped when dropped; both output pipes are
/// read line by line for its whole life.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<String>,
    err: Receiver<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn pump(pipe: impl Read + Send + 'static, seen: Arc<Mutex<Vec<String>>>) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match std::io::BufRead::read_until(&mut reader, b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(buf.strip_suffix(b"\n").unwrap_or(&buf)).into_owned();
                    seen.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            }
        }
    });
    rx
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the child");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let out = pump(child.stdout.take().unwrap(), stdout.clone());
        let err = pump(child.stderr.take().unwrap(), stderr.clone());
        Proc { stdin: child.stdin.take(), child, out, err, stdout, stderr }
    }

    fn distlab(args: &[&str]) -> Proc {
        let mut cmd = bin();
        cmd.args(args);
        Proc::spawn(cmd)
    }

    fn wait_line(rx: &Receiver<String>, pattern: &str, what: &str, other: &Mutex<Vec<String>>) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains(pattern) => return line,
                Ok(_) => {}
                Err(_) => {
                    panic!("no {what} line with {pattern:?} within {WAIT:?}; the other stream:\n{}", other.lock().unwrap().join("\n"))
                }
            }
        }
    }

    /// Waits for a stdout line containing `pattern`.
    fn wait_out(&self, pattern: &str) -> String {
        Proc::wait_line(&self.out, pattern, "stdout", &self.stderr)
    }

    /// Waits for a stderr line containing `pattern`.
    fn wait_err(&self, pattern: &str) -> String {
        Proc::wait_line(&self.err, pattern, "stderr", &self.stdout)
    }

    fn write(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).expect("write to the child");
        stdin.flush().unwrap();
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the child to exit; returns its status, stdout and stderr lines.
    fn finish(mut self) -> (ExitStatus, Vec<String>, Vec<String>) {
        self.close_stdin();
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "the child did not exit within {WAIT:?}; stderr:\n{}",
                self.stderr.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The pumps end at the pipes' end of file, shortly after the exit.
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until && (self.out.recv_timeout(Duration::from_millis(50)).is_ok() || self.err.try_recv().is_ok()) {}
        std::thread::sleep(Duration::from_millis(50));
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status, out, err)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `distlab ARGS` with `input` on stdin; waits (bounded) for it to exit.
fn run(args: &[&str], input: &[u8]) -> (ExitStatus, Vec<String>, Vec<String>) {
    let mut p = Proc::distlab(args);
    // A child that stops reading early (an error) closes the pipe: fine.
    let _ = p.stdin.as_mut().unwrap().write_all(input);
    p.finish()
}

/// A free UDP port on 127.0.0.1 and a group of its own, 239.255.(port / 256).(port % 256).
fn chat() -> (String, String) {
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let group = Ipv4Addr::new(239, 255, (port >> 8) as u8, (port & 0xff) as u8);
    (group.to_string(), port.to_string())
}

/// A listener that has joined (its stderr says so).
fn listener(group: &str, port: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["multicast", "listen", "--group", group, "--port", port];
    args.extend_from_slice(extra);
    let p = Proc::distlab(&args);
    p.wait_err(&format!("joined group {group} on interface 127.0.0.1, port"));
    p
}

/// The sender's `IP:PORT` from its `from ... to ...` stderr line.
fn sent_from(stderr: &[String]) -> String {
    let line =
        stderr.iter().find(|l| l.starts_with("from ") || l.contains(" from ")).unwrap_or_else(|| panic!("no `from` line in {stderr:?}"));
    let from = line.split("from ").nth(1).unwrap().split(' ').next().unwrap();
    let (ip, port) = from.rsplit_once(':').unwrap();
    format!("('{ip}', {port})")
}

#[test]
fn listen_prints_each_datagram_as_the_seed_server_and_an_exit_line_stops_the_sender() {
    let (group, port) = chat();
    let l = listener(&group, &port, &["--count", "3", "--timeout", "20s"]);
    let (status, out, err) =
        run(&["multicast", "send", "--group", &group, "--port", &port], b"hello\nnot utf-8: \xff\xfe!\r\nExit\nnot sent\n");
    assert!(status.success(), "{err:?}");
    assert!(out.is_empty(), "{out:?}");
    assert!(err.iter().any(|l| l.ends_with(&format!("to {group}:{port} (TTL 1, interface 127.0.0.1)"))), "{err:?}");
    assert_eq!(err.last().unwrap(), "distlab multicast send: sent 2 datagrams");
    let first = sent_from(&err);
    let (status, _, err) = run(&["multicast", "send", "--group", &group, "--port", &port, "--message", "third, with --message"], b"");
    assert!(status.success(), "{err:?}");
    let second = sent_from(&err);
    let (status, out, err) = l.finish();
    assert!(status.success(), "{err:?}");
    assert_eq!(
        out,
        [
            format!("Received message from {first}: hello"),
            format!("Received message from {first}: not utf-8: \u{fffd}\u{fffd}!"),
            format!("Received message from {second}: third, with --message"),
        ]
    );
}

#[test]
fn listen_stops_after_a_timeout_of_silence() {
    let (group, port) = chat();
    // With --count: too few datagrams is a failure (exit 1).
    let l = listener(&group, &port, &["--count", "2", "--timeout", "2s"]);
    let (status, _, err) = run(&["multicast", "send", "--group", &group, "--port", &port, "-m", "only one"], b"");
    let from = sent_from(&err);
    assert!(status.success());
    let (status, out, err) = l.finish();
    assert_eq!(status.code(), Some(1), "{err:?}");
    assert_eq!(out, [format!("Received message from {from}: only one")]);
    assert!(err.last().unwrap().contains("1 of 2 datagrams, then 2s without one"), "{err:?}");
    // Without --count, silence is the normal end.
    let (status, out, _) = run(&["multicast", "listen", "--group", &group, "--port", &port, "--timeout", "300ms"], b"");
    assert!(status.success());
    assert!(out.is_empty());
}

#[test]
fn listeners_share_a_port_and_port_0_is_the_kernels_choice() {
    let (group, port) = chat();
    let a = listener(&group, &port, &["--count", "1", "--timeout", "20s"]);
    let b = listener(&group, &port, &["-n", "1", "--timeout", "20s"]);
    let (_, _, err) = run(&["multicast", "send", "--group", &group, "--port", &port, "-m", "to both", "--ttl", "0"], b"");
    let expected = vec![format!("Received message from {}: to both", sent_from(&err))];
    for l in [a, b] {
        let (status, out, err) = l.finish();
        assert!(status.success(), "{err:?}");
        assert_eq!(out, expected);
    }
    // --port 0: the joined line tells the port.
    let l = Proc::distlab(&["multicast", "listen", "--group", &group, "--port", "0", "--count", "1", "--timeout", "20s"]);
    let joined = l.wait_err("joined group");
    let chosen = joined.rsplit("port ").next().unwrap().to_string();
    assert!(chosen.parse::<u16>().unwrap() > 0, "{joined}");
    let (_, _, err) = run(&["multicast", "send", "--group", &group, "--port", &chosen, "-m", "found you"], b"");
    let (status, out, _) = l.finish();
    assert!(status.success());
    assert_eq!(out, [format!("Received message from {}: found you", sent_from(&err))]);
}

#[test]
fn the_largest_datagram_arrives_and_a_longer_message_is_a_clear_error() {
    let (group, port) = chat();
    let l = listener(&group, &port, &["--count", "1", "--timeout", "20s"]);
    let max = "x".repeat(65_507);
    let (status, _, err) = run(&["multicast", "send", "--group", &group, "--port", &port, "--message", &max], b"");
    assert!(status.success(), "{err:?}");
    let (status, out, _) = l.finish();
    assert!(status.success());
    assert_eq!(out, [format!("Received message from {}: {max}", sent_from(&err))]);

    let (status, _, err) = run(&["multicast", "send", "--group", &group, "--port", &port, "--message", &format!("{max}x")], b"");
    assert_eq!(status.code(), Some(2));
    assert_eq!(err, ["distlab multicast send: --message: message is 65508 bytes; one UDP datagram over IPv4 carries at most 65507 bytes"]);
    let mut input = b"short\n".to_vec();
    input.extend(std::iter::repeat_n(b'y', 70_000));
    input.extend(b"\nnever\n");
    let (status, _, err) = run(&["multicast", "send", "--group", &group, "--port", &port], &input);
    assert_eq!(status.code(), Some(2));
    assert!(err.iter().any(|l| l.contains("line 2 is longer than 65507 bytes")), "{err:?}");
    assert!(err.iter().any(|l| l.ends_with("sent 1 datagram")), "{err:?}");
}

#[test]
fn bad_multicast_options_are_clear_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["multicast", "listen", "--group", "10.0.0.1"], "\"10.0.0.1\" is not a multicast group address"),
        (&["multicast", "send", "--group", "127.0.0.1", "-m", "x"], "is not a multicast group address"),
        (&["multicast", "send", "--group", "ff02::1", "-m", "x"], "expected an IPv4 address from 224.0.0.0 to 239.255.255.255"),
        (&["multicast", "send", "--interface", "224.0.0.1", "-m", "x"], "cannot be an interface"),
        (&["multicast", "send", "--ttl", "2", "-m", "x"], "--ttl 2 only matters beyond this machine"),
        (&["multicast", "send", "--ttl", "256", "-m", "x"], "256 is not in 0..=255"),
        (&["multicast", "listen", "--count", "0"], "0 is not in 1.."),
        (&["multicast", "listen", "--timeout", "0"], "is zero"),
        (&["multicast", "listen", "--timeout", "soon"], "soon"),
    ];
    for (args, wanted) in cases {
        let (status, out, err) = run(args, b"");
        assert_eq!(status.code(), Some(2), "{args:?}: {err:?}");
        assert!(out.is_empty(), "{args:?}: {out:?}");
        assert!(err.join("\n").contains(wanted), "{args:?}: wanted {wanted:?} in {err:?}");
    }
}

fn python3() -> Option<&'static str> {
    let ok = Command::new("python3").arg("-c").arg("pass").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        println!("skipped: python3 is not installed, so the seed's Python programs cannot be run");
    }
    ok.then_some("python3")
}

/// The seed's server, with its socket options, joined on 127.0.0.1 instead
/// of any interface and bound to the group (so it shares the port with
/// distlab's listeners), ending after N datagrams or 20 s of silence.
const PY_SERVER: &str = r#"
import socket, struct, sys
MULTICAST_GROUP = sys.argv[1]
MULTICAST_PORT = int(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((MULTICAST_GROUP, MULTICAST_PORT))
group = socket.inet_aton(MULTICAST_GROUP)
mreq = struct.pack('4s4s', group, socket.inet_aton('127.0.0.1'))
sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
sock.settimeout(20)
print("joined", file=sys.stderr, flush=True)
for _ in range(int(sys.argv[3])):
    data, address = sock.recvfrom(1024)
    print("Received message from {}: {}".format(address, data.decode()), flush=True)
sock.close()
"#;

/// The seed's client, with the outgoing interface set to 127.0.0.1.
const PY_CLIENT: &str = r#"
import socket, struct, sys
MULTICAST_GROUP = sys.argv[1]
MULTICAST_PORT = int(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ttl = struct.pack('b', 1)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('127.0.0.1'))
sock.bind(('127.0.0.1', 0))
print("from {}:{}".format(*sock.getsockname()), file=sys.stderr, flush=True)
while True:
    try:
        message = input("Enter message to send (type 'exit' to quit): ")
    except EOFError:
        break
    if message.lower() == 'exit':
        break
    sock.sendto(message.encode(), (MULTICAST_GROUP, MULTICAST_PORT))
sock.close()
"#;

#[test]
fn the_seeds_python_client_and_server_interoperate() {
    let Some(python) = python3() else { return };
    let (group, port) = chat();
    // distlab send -> the seed's server and distlab listen, side by side: the same lines.
    let mut cmd = Command::new(python);
    cmd.args(["-c", PY_SERVER, &group, &port, "2"]);
    let server = Proc::spawn(cmd);
    server.wait_err("joined");
    let l = listener(&group, &port, &["--count", "2", "--timeout", "20s"]);
    let (status, _, err) = run(&["multicast", "send", "--group", &group, "--port", &port], "hello, group\nnaïve café\nexit\n".as_bytes());
    assert!(status.success(), "{err:?}");
    let from = sent_from(&err);
    let (py_status, py_out, py_err) = server.finish();
    let (status, out, _) = l.finish();
    assert!(py_status.success() && status.success(), "{py_err:?}");
    assert_eq!(out, [format!("Received message from {from}: hello, group"), format!("Received message from {from}: naïve café")]);
    assert_eq!(py_out, out, "the seed's server prints what distlab listen prints");

    // The seed's client -> distlab listen; its `exit` stops it.
    let l = listener(&group, &port, &["--count", "2", "--timeout", "20s"]);
    let mut cmd = Command::new(python);
    cmd.args(["-c", PY_CLIENT, &group, &port]);
    let mut client = Proc::spawn(cmd);
    client.write(b"from python\nEXIT\nnever sent\n");
    let (status, _, err) = client.finish();
    assert!(status.success(), "{err:?}");
    let py_from = sent_from(&err);
    let (_, _, err) = run(&["multicast", "send", "--group", &group, "--port", &port, "-m", "then distlab"], b"");
    let (status, out, _) = l.finish();
    assert!(status.success());
    assert_eq!(
        out,
        [format!("Received message from {py_from}: from python"), format!("Received message from {}: then distlab", sent_from(&err))]
    );
}

/// A fresh folder for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!("distlab-tools-{}-{}-{name}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn append(path: &str, bytes: &[u8]) {
    std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap().write_all(bytes).unwrap();
}

#[test]
fn ipc_write_appends_lines_and_read_prints_them_as_the_seed_reader() {
    let dir = TempDir::new("roundtrip");
    let file = dir.path("data.txt");
    let (status, out, err) = run(&["ipc", "write", &file], b"first\nsecond\r\n\nnot utf-8 \xff\nno newline");
    assert!(status.success() && out.is_empty() && err.is_empty(), "{err:?}");
    assert_eq!(std::fs::read(&file).unwrap(), b"first\nsecond\n\nnot utf-8 \xff\nno newline\n");
    let (status, _, _) = run(&["ipc", "write", &file], b"appended\n");
    assert!(status.success());
    let (status, out, err) = run(&["ipc", "read", &file], b"");
    assert!(status.success(), "{err:?}");
    assert_eq!(
        out,
        ["Received: first", "Received: second", "Received: ", "Received: not utf-8 \u{fffd}", "Received: no newline", "Received: appended"]
    );
    // --truncate starts from an empty file, as the seed's writer does.
    let (status, _, _) = run(&["ipc", "write", &file, "--truncate"], b"fresh\n");
    assert!(status.success());
    append(&file, b"unfinished");
    let (_, out, _) = run(&["ipc", "read", &file], b"");
    assert_eq!(out, ["Received: fresh", "Received: unfinished"]);
}

#[test]
fn ipc_read_follow_sees_lines_appended_after_it_started() {
    let dir = TempDir::new("follow");
    let file = dir.path("data.txt");
    std::fs::write(&file, "before\n").unwrap();
    let reader = Proc::distlab(&["ipc", "read", &file, "--follow", "--timeout", "5s"]);
    reader.wait_out("Received: before");
    // A writer process that stays open between lines.
    let mut writer = Proc::distlab(&["ipc", "write", &file]);
    writer.write(b"typed later\n");
    reader.wait_out("Received: typed later");
    writer.write(b"and another\n");
    reader.wait_out("Received: and another");
    let (status, _, err) = writer.finish();
    assert!(status.success(), "{err:?}");
    // Half a line waits for its newline.
    append(&file, b"half a ");
    std::thread::sleep(Duration::from_millis(300));
    assert!(reader.out.try_recv().is_err(), "an unfinished line was printed");
    append(&file, b"line\n");
    reader.wait_out("Received: half a line");
    // Emptied and written again (the seed's writer truncates): read from the start.
    std::fs::write(&file, "").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    append(&file, b"after truncation\n");
    reader.wait_out("Received: after truncation");
    reader.wait_err("was emptied; reading it again from its start");
    let (status, out, _) = reader.finish();
    assert!(status.success());
    assert_eq!(
        out,
        ["Received: before", "Received: typed later", "Received: and another", "Received: half a line", "Received: after truncation"]
    );
}

#[test]
fn ipc_read_follow_waits_for_a_missing_file() {
    let dir = TempDir::new("wait");
    let file = dir.path("later.txt");
    let reader = Proc::distlab(&["ipc", "read", &file, "-f", "--timeout", "5s"]);
    reader.wait_err("does not exist yet; waiting for it");
    let (status, _, _) = run(&["ipc", "write", &file], b"born\n");
    assert!(status.success());
    reader.wait_out("Received: born");
    let (status, out, _) = reader.finish();
    assert!(status.success());
    assert_eq!(out, ["Received: born"]);
}

#[test]
fn ipc_errors_name_the_file_and_exit_2() {
    let dir = TempDir::new("errors");
    let missing = dir.path("missing.txt");
    let folder = dir.path("");
    let folder = folder.trim_end_matches('/');
    let nested = dir.path("no/such/data.txt");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["ipc", "read", &missing],
            format!("distlab ipc read: {missing}: no such file (write it first with `distlab ipc write`, or use --follow to wait for it)"),
        ),
        (vec!["ipc", "read", folder], format!("distlab ipc read: {folder}: is a directory, expected a text file")),
        (
            vec!["ipc", "read", folder, "--follow", "--timeout", "1s"],
            format!("distlab ipc read: {folder}: is a directory, expected a text file"),
        ),
        (vec!["ipc", "write", folder], format!("distlab ipc write: {folder}: is a directory, expected a text file")),
        (
            vec!["ipc", "write", &nested],
            format!("distlab ipc write: {nested}: cannot create it: the folder {} does not exist", dir.path("no/such")),
        ),
    ];
    for (args, wanted) in &cases {
        let (status, out, err) = run(args, b"x\n");
        assert_eq!(status.code(), Some(2), "{args:?}: {err:?}");
        assert!(out.is_empty());
        assert_eq!(err.as_slice(), std::slice::from_ref(wanted), "{args:?}");
    }
    let (status, _, err) = run(&["ipc", "read", &missing, "--timeout", "1s"], b"");
    assert_eq!(status.code(), Some(2));
    assert!(err.join("\n").contains("--follow"), "{err:?}");
    permission_errors(&dir);
}

/// Unreadable and unwritable files. Root reads and writes them anyway, so as
/// root the commands run as the user `nobody` (through `setpriv`), and the
/// check is skipped, with a message, when that cannot be done.
fn permission_errors(dir: &TempDir) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path("locked.txt");
        std::fs::write(&locked, "secret\n").unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let as_root = std::fs::File::open(&locked).is_ok();
        let distlab = |args: &[&str]| -> Option<(ExitStatus, Vec<String>, Vec<String>)> {
            let mut cmd = if as_root {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_distlab")]);
                c
            } else {
                bin()
            };
            cmd.args(args);
            let mut p = Proc::spawn(cmd);
            let _ = p.stdin.as_mut().unwrap().write_all(b"x\n");
            let (status, out, err) = p.finish();
            // setpriv missing or the binary out of nobody's reach: 126/127 or an error of its own.
            if as_root && !err.iter().any(|l| l.starts_with("distlab ")) {
                println!(
                    "skipped: running as root and cannot run distlab as nobody ({err:?}), so a file without permissions can still be read"
                );
                return None;
            }
            Some((status, out, err))
        };
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        let Some((status, _, err)) = distlab(&["ipc", "read", &locked]) else { return };
        assert_eq!(status.code(), Some(2));
        assert_eq!(err, [format!("distlab ipc read: {locked}: permission denied: cannot read it")]);
        let Some((status, _, err)) = distlab(&["ipc", "write", &locked]) else { return };
        assert_eq!(status.code(), Some(2));
        assert_eq!(err, [format!("distlab ipc write: {locked}: permission denied: cannot append to it")]);
        if as_root {
            // A new file in a folder nobody may write to.
            let new = dir.path("new.txt");
            let Some((status, _, err)) = distlab(&["ipc", "write", &new]) else { return };
            assert_eq!(status.code(), Some(2));
            assert_eq!(err, [format!("distlab ipc write: {new}: permission denied: cannot create it")]);
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn java() -> bool {
    let ok = Command::new("java").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
        && Command::new("javac").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        println!("skipped: no JDK (java and javac), so the seed's Java programs cannot be run");
    }
    ok
}

/// The seed's Java writer and reader, as they are but for the missing `try`
/// in `read`.
const JAVA_WRITE: &str = r#"import java.io.*;
public class write {
  public static void main(String[] args) {
    try {
      BufferedReader reader = new BufferedReader(new InputStreamReader(System.in));
      PrintWriter writer = new PrintWriter(new FileWriter("data.txt"));
      String input;
      while ((input = reader.readLine()) != null) {
        writer.println(input);
        writer.flush();
      }
      reader.close();
      writer.close();
    } catch (IOException e) {
      e.printStackTrace();
    }
  }
}
"#;

const JAVA_READ: &str = r#"import java.io.*;
public class read {
  public static void main(String[] args) {
    try {
      BufferedReader reader = new BufferedReader(new FileReader("data.txt"));
      String input;
      while ((input = reader.readLine()) != null) {
        System.out.println("Received: " + input);
      }
      reader.close();
    } catch (IOException e) {
      e.printStackTrace();
    }
  }
}
"#;

fn java_run(dir: &Path, class: &str, input: &[u8]) -> Vec<String> {
    let mut cmd = Command::new("java");
    cmd.current_dir(dir).args(["-cp", ".", class]);
    let mut p = Proc::spawn(cmd);
    p.write(input);
    let (status, out, err) = p.finish();
    assert!(status.success(), "java {class}: {err:?}");
    out
}

#[test]
fn the_seeds_java_writer_and_reader_interoperate() {
    if !java() {
        return;
    }
    let dir = TempDir::new("java");
    std::fs::write(dir.0.join("write.java"), JAVA_WRITE).unwrap();
    std::fs::write(dir.0.join("read.java"), JAVA_READ).unwrap();
    let compiled = Command::new("javac").current_dir(&dir.0).args(["write.java", "read.java"]).output().unwrap();
    assert!(compiled.status.success(), "{}", String::from_utf8_lossy(&compiled.stderr));
    let file = dir.path("data.txt");
    // distlab writes, the seed reads: the same lines distlab ipc read prints.
    let (status, _, _) = run(&["ipc", "write", &file], b"from distlab\nsecond line\n");
    assert!(status.success());
    let seed = java_run(&dir.0, "read", b"");
    let (_, ours, _) = run(&["ipc", "read", &file], b"");
    assert_eq!(seed, ["Received: from distlab", "Received: second line"]);
    assert_eq!(ours, seed);
    // The seed writes (emptying the file first, as it does), distlab reads.
    java_run(&dir.0, "write", b"from java\nagain\n");
    let (status, out, _) = run(&["ipc", "read", &file], b"");
    assert!(status.success());
    assert_eq!(out, ["Received: from java", "Received: again"]);
}

#[test]
fn help_texts_teach_with_examples() {
    for args in [
        &["multicast", "--help"][..],
        &["multicast", "listen", "--help"],
        &["multicast", "send", "--help"],
        &["ipc", "--help"],
        &["ipc", "read", "--help"],
        &["ipc", "write", "--help"],
    ] {
        let (status, out, _) = run(args, b"");
        assert!(status.success(), "{args:?}");
        let text = out.join("\n");
        assert!(text.contains("Examples"), "{args:?} has no examples:\n{text}");
        assert!(text.contains("distlab "), "{args:?}");
    }
    let (_, out, _) = run(&["--help"], b"");
    let text = out.join("\n");
    assert!(text.contains("multicast") && text.contains("ipc"), "{text}");
}

const README: &str = include_str!("../../README.md");

/// The fenced blocks of one language in the README's section on the tools.
fn readme_blocks(lang: &str) -> Vec<&'static str> {
    let start = README.find("## The seed's tools").expect("README has a section on the seed's tools");
    let section = &README[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let fence = format!("```{lang}\n");
    section.split(fence.as_str()).skip(1).map(|b| &b[..b.find("```").expect("a closed block")]).collect()
}

/// Runs a README block with `sh` in `dir`, `distlab` on the PATH.
fn run_sh(script: &str, dir: &Path) -> Vec<String> {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_distlab")).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]).current_dir(dir).env("PATH", path);
    let (status, out, err) = Proc::spawn(cmd).finish();
    assert!(status.success(), "{script}\nstderr: {err:?}");
    out
}

/// Python's `('127.0.0.1', 41234)` with the port replaced by `PORT`.
fn without_ports(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| match (l.find("('127.0.0.1', "), l.find(")")) {
            (Some(a), Some(b)) if a < b => format!("{}('127.0.0.1', PORT){}", &l[..a], &l[b + 1..]),
            _ => l.clone(),
        })
        .collect()
}

#[test]
fn the_readme_examples_run_and_print_what_it_shows() {
    let (commands, shown) = (readme_blocks("sh"), readme_blocks("text"));
    assert_eq!((commands.len(), shown.len()), (2, 2), "a multicast and an ipc example, each with its output");
    let lines = |text: &str| text.lines().map(str::to_string).collect::<Vec<_>>();
    // Multicast, on a group and port of this test's own instead of the seed's.
    let (group, port) = chat();
    let script = commands[0]
        .replace("distlab multicast listen", &format!("distlab multicast listen --group {group} --port {port}"))
        .replace("distlab multicast send", &format!("distlab multicast send --group {group} --port {port}"));
    let dir = TempDir::new("readme");
    assert_eq!(without_ports(&run_sh(&script, &dir.0)), without_ports(&lines(shown[0])));
    // File IPC, in a folder of its own.
    assert_eq!(run_sh(commands[1], &dir.0), lines(shown[1]));
}
