//! `distlab rmi` through the real binary on 127.0.0.1, with ports the kernel
//! picks (`--port 0`, read back from the `listening on` line): the calculator's
//! methods, every error the issue lists (each a clear message and a non-zero
//! exit), and malformed JSON-RPC sent over a raw socket, after which the
//! servers go on serving. Every child process is killed when its guard drops,
//! on every exit path; every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a child gets to print its `listening on` line or to exit.
const START: Duration = Duration::from_secs(15);

/// A running `distlab` process, killed and reaped when dropped.
struct Proc {
    child: std::process::Child,
    lines: Receiver<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_distlab"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start distlab");
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let seen = stdout.clone();
        // Both pipes are drained for the child's whole life, so it never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                seen.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let errs = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                errs.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proc { child, lines, stdout, stderr }
    }

    /// Waits for a stdout line containing `pattern` and returns it.
    fn wait_for(&self, pattern: &str) -> String {
        let deadline = Instant::now() + START;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(pattern) => return line,
                Ok(_) => {}
                Err(_) => panic!("no line with {pattern:?} within {START:?}; stderr:\n{}", self.stderr()),
            }
        }
    }

    /// The `HOST:PORT` of the `listening on` line.
    fn listening(&self) -> SocketAddr {
        let line = self.wait_for("listening on ");
        let after = line.split("listening on ").nth(1).unwrap();
        after.split_whitespace().next().unwrap().parse().unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    /// Waits (bounded) for the process to exit by itself.
    fn exit_status(&mut self) -> ExitStatus {
        let deadline = Instant::now() + START;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("still running after {START:?}; stderr:\n{}", self.stderr());
    }

    /// Waits (bounded) for `pattern` on stderr, which a thread reads apace.
    fn wait_stderr(&self, pattern: &str) {
        let deadline = Instant::now() + START;
        while !self.stderr().contains(pattern) {
            assert!(Instant::now() < deadline, "{pattern:?} not on stderr:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A registry on a port the kernel picks, and that port.
fn registry() -> (Proc, u16) {
    let p = Proc::spawn(&["rmi", "registry", "--port", "0"]);
    let addr = p.listening();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    (p, addr.port())
}

/// A calculator bound as `name` in the registry on `port`, and where it listens.
fn serve(port: u16, name: &str) -> (Proc, SocketAddr) {
    let reg = format!("rmi://127.0.0.1:{port}");
    let p = Proc::spawn(&["rmi", "serve", "--registry", &reg, "--name", name, "--port", "0"]);
    let addr = p.listening();
    (p, addr)
}

/// Runs `distlab ARGS` to the end (each client call has its own --timeout).
fn distlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distlab")).args(args).stdin(Stdio::null()).output().expect("run distlab")
}

fn call(port: u16, name: &str, method: &str, args: &[&str]) -> Output {
    let url = format!("rmi://127.0.0.1:{port}/{name}");
    let mut all = vec!["rmi", "call", &url, method];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--timeout", "10"]);
    distlab(&all)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Checks exit `code`, no panic, and every word of `words` on stderr.
fn assert_fails(o: &Output, code: i32, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stdout: {}\nstderr: {err}", stdout(o));
    assert!(!err.contains("panicked"), "{err}");
    for w in words {
        assert!(err.contains(w), "{w:?} not in stderr:\n{err}");
    }
}

/// A raw connection speaking JSON lines.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { reader: BufReader::new(s.try_clone().unwrap()), writer: s }
    }

    fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
    }

    fn recv(&mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read an answer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    }

    /// Sends one line and reads one answer.
    fn ask(&mut self, line: &str) -> Value {
        self.send(line);
        self.recv()
    }
}

fn error_code(v: &Value) -> i64 {
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    v["error"]["code"].as_i64().unwrap_or_else(|| panic!("no error object: {v}"))
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A port nothing listens on (bound by the kernel, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn the_calculator_answers_and_the_server_prints_each_call() {
    let (_reg, port) = registry();
    let (srv, _) = serve(port, "hello");
    for (method, args, want) in [
        ("sqrt", &["16"][..], "4"),
        ("calculateSquareRoot", &["2.25"][..], "1.5"),
        ("add", &["2", "3"][..], "5"),
        ("sub", &["2", "3.5"][..], "-1.5"),
        ("mul", &["6", "7"][..], "42"),
        ("div", &["1", "4"][..], "0.25"),
        ("pow", &["2", "10"][..], "1024"),
    ] {
        let o = call(port, "hello", method, args);
        assert!(o.status.success(), "{method} {args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{want}\n"), "{method} {args:?}");
    }
    // The server printed each call as the seed does.
    srv.wait_for("2 to the power of 10 is: 1024");
    let printed = srv.stdout();
    for line in ["Square Root of 16 is: 4", "Sum of 2 and 3 is: 5", "Product of 6 and 7 is: 42", "Quotient of 1 and 4 is: 0.25"] {
        assert!(printed.iter().any(|l| l == line), "{line:?} not in {printed:?}");
    }
}

#[test]
fn the_object_s_errors_are_clear_and_exit_1() {
    let (_reg, port) = registry();
    let (srv, _) = serve(port, "hello");
    let o = call(port, "hello", "sqrt", &["-1"]);
    assert_fails(&o, 1, &["DomainError", "square root of a negative number"]);
    assert!(stdout(&o).is_empty(), "no NaN printed: {}", stdout(&o));
    assert_fails(&call(port, "hello", "div", &["1", "0"]), 1, &["DomainError", "division by zero"]);
    assert_fails(&call(port, "hello", "pow", &["10", "400"]), 1, &["DomainError", "too large"]);
    assert_fails(&call(port, "hello", "sqr", &["16"]), 1, &["MethodNotFound", "\"sqr\"", "sqrt", "calculateSquareRoot", "pow"]);
    assert_fails(&call(port, "hello", "sqrt", &["abc"]), 1, &["InvalidParams", "argument 1 is a string", "not a number"]);
    assert_fails(&call(port, "hello", "add", &["1"]), 1, &["InvalidParams", "add expects 2 numbers"]);
    assert_fails(&call(port, "hello", "add", &["1", "true"]), 1, &["InvalidParams", "argument 2 is a boolean"]);
    srv.wait_for("Quotient of 1 and 0 failed: division by zero");
}

#[test]
fn an_unknown_name_fails_the_lookup_and_lists_what_is_bound() {
    let (_reg, port) = registry();
    let (_a, _) = serve(port, "hello");
    let (_b, _) = serve(port, "calc");
    assert_fails(&call(port, "hallo", "sqrt", &["16"]), 2, &["lookup failed", "\"hallo\" is not bound", "bound: calc, hello"]);
    let o = distlab(&["rmi", "list", &format!("rmi://127.0.0.1:{port}"), "--timeout", "10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "calc\nhello\n");
    let o = distlab(&["rmi", "list", &format!("127.0.0.1:{port}"), "--long"]);
    assert!(stdout(&o).starts_with("calc  127.0.0.1:"), "{}", stdout(&o));
}

#[test]
fn an_unreachable_registry_is_a_clear_error() {
    let port = closed_port();
    assert_fails(&call(port, "hello", "sqrt", &["16"]), 2, &["cannot reach the registry", &format!("127.0.0.1:{port}")]);
    assert_fails(&distlab(&["rmi", "list", &format!("rmi://127.0.0.1:{port}")]), 2, &["cannot reach the registry"]);
    let mut serve = Proc::spawn(&["rmi", "serve", "--registry", &format!("rmi://127.0.0.1:{port}"), "--name", "hello"]);
    assert_eq!(serve.exit_status().code(), Some(2));
    serve.wait_stderr("cannot reach the registry");
}

#[test]
fn bad_urls_and_busy_ports_are_bad_input() {
    assert_fails(&distlab(&["rmi", "call", "http://127.0.0.1:1/hello", "sqrt", "1"]), 2, &["expected rmi://host:port/name"]);
    assert_fails(&distlab(&["rmi", "call", "rmi://127.0.0.1:1878", "sqrt", "1"]), 2, &["no object name"]);
    assert_fails(&distlab(&["rmi", "call", "rmi://127.0.0.1:x/hello", "sqrt", "1"]), 2, &["port must be a number"]);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_fails(&distlab(&["rmi", "registry", "--port", &port]), 2, &["cannot listen on 127.0.0.1:"]);
}

#[test]
fn a_server_gone_between_lookup_and_call_is_a_clear_error() {
    let (_reg, port) = registry();
    let (mut srv, srv_addr) = serve(port, "hello");
    // A second name for the same server, bound without a lease: the registry
    // keeps it after the server dies, as Java's registry would.
    let mut raw = Raw::connect(addr(port));
    let bound = raw.ask(&json!({"jsonrpc": "2.0", "id": 1, "method": "bind", "params": ["ghost", srv_addr.to_string()]}).to_string());
    assert_eq!(bound["result"]["address"], srv_addr.to_string(), "{bound}");
    assert!(call(port, "ghost", "sqrt", &["16"]).status.success());
    srv.kill();
    assert_fails(&call(port, "ghost", "sqrt", &["16"]), 2, &["the server of \"ghost\"", &srv_addr.to_string(), "is gone"]);
    // "hello" was bound with a lease: the registry unbinds it by itself.
    let deadline = Instant::now() + START;
    loop {
        let names = raw.ask(r#"{"jsonrpc":"2.0","id":2,"method":"list"}"#);
        if names["result"] == json!(["ghost"]) {
            break;
        }
        assert!(Instant::now() < deadline, "hello still bound: {names}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_fails(&call(port, "hello", "sqrt", &["16"]), 2, &["\"hello\" is not bound", "bound: ghost"]);
}

#[test]
fn binding_a_name_twice_is_already_bound() {
    let (_reg, port) = registry();
    let (mut first, first_addr) = serve(port, "hello");
    let reg = format!("rmi://127.0.0.1:{port}");
    let mut second = Proc::spawn(&["rmi", "serve", "--registry", &reg, "--name", "hello"]);
    assert_eq!(second.exit_status().code(), Some(2), "stderr: {}", second.stderr());
    second.wait_stderr("choose another --name");
    let err = second.stderr();
    assert!(err.contains("AlreadyBound") && err.contains("\"hello\" is already bound") && err.contains(&first_addr.to_string()), "{err}");
    // A running server's lease cannot be taken over, even with --rebind.
    let mut taker = Proc::spawn(&["rmi", "serve", "--registry", &reg, "--name", "hello", "--rebind"]);
    assert_eq!(taker.exit_status().code(), Some(2), "stderr: {}", taker.stderr());
    taker.wait_stderr("stop that server first");
    assert!(taker.stderr().contains("LeaseHeld") && taker.stderr().contains(&first_addr.to_string()), "{}", taker.stderr());
    assert!(call(port, "hello", "sqrt", &["16"]).status.success());
    // Once the first server is gone, --rebind (and bind) get the name.
    first.kill();
    let deadline = Instant::now() + START;
    let (third, third_addr) = loop {
        let mut p = Proc::spawn(&["rmi", "serve", "--registry", &reg, "--name", "hello", "--rebind"]);
        match p.lines.recv_timeout(START) {
            Ok(line) if line.contains("listening on ") => {
                let a: SocketAddr = line.split("listening on ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
                break (p, a);
            }
            _ => {
                assert_eq!(p.exit_status().code(), Some(2));
                assert!(Instant::now() < deadline, "the name was never released: {}", p.stderr());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    let looked_up = Raw::connect(addr(port)).ask(r#"{"jsonrpc":"2.0","id":1,"method":"lookup","params":{"name":"hello"}}"#);
    assert_eq!(looked_up["result"], third_addr.to_string());
    assert_eq!(stdout(&call(port, "hello", "sqrt", &["81"])), "9\n");
    third.wait_for("Square Root of 81 is: 9");
}

/// Another client can neither rebind nor unbind (nor renew) a name that a
/// running server holds with a lease; a name bound without one stays free
/// for all, as in Java's registry.
#[test]
fn a_leased_name_cannot_be_rebound_or_unbound_by_another_client() {
    let (_reg, port) = registry();
    let (_srv, srv_addr) = serve(port, "hello");
    let mut c = Raw::connect(addr(port));
    for req in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "rebind", "params": ["hello", "127.0.0.1:9"]}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "rebind", "params": {"name": "hello", "address": "127.0.0.1:9", "lease": true}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "unbind", "params": ["hello"]}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "unbind", "params": {"name": "hello", "token": "0123456789abcdef0123456789abcdef"}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "renew", "params": {"name": "hello", "token": "x"}}),
    ] {
        let v = c.ask(&req.to_string());
        assert_eq!(error_code(&v), -32004, "{req} -> {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("held by the lease of a running server"), "{v}");
    }
    let v = c.ask(r#"{"jsonrpc":"2.0","id":6,"method":"lookup","params":["hello"]}"#);
    assert_eq!(v["result"], srv_addr.to_string());
    assert!(call(port, "hello", "sqrt", &["16"]).status.success());
    // Without a lease, rebind and unbind work for anyone.
    c.ask(r#"{"jsonrpc":"2.0","id":7,"method":"bind","params":["free","127.0.0.1:9"]}"#);
    assert_eq!(
        c.ask(r#"{"jsonrpc":"2.0","id":8,"method":"rebind","params":["free","127.0.0.1:10"]}"#)["result"]["address"],
        "127.0.0.1:10"
    );
    assert_eq!(c.ask(r#"{"jsonrpc":"2.0","id":9,"method":"unbind","params":["free"]}"#)["result"]["name"], "free");
}

/// What both servers must do with malformed input: answer with an error
/// object and keep serving.
fn check_malformed(server: SocketAddr, good: &str, good_result: Value) {
    let mut c = Raw::connect(server);
    let v = c.ask("this is not json");
    assert_eq!((error_code(&v), &v["id"]), (-32700, &Value::Null), "{v}");
    assert_eq!(error_code(&c.ask(r#"{"jsonrpc":"2.0","id":1"#)), -32700);
    let v = c.ask(r#"{"jsonrpc":"2.0","id":2}"#);
    assert_eq!((error_code(&v), &v["id"]), (-32600, &json!(2)), "{v}");
    assert_eq!(error_code(&c.ask(r#"{"jsonrpc":"1.0","method":"list","id":3}"#)), -32600);
    assert_eq!(error_code(&c.ask(r#"{"jsonrpc":"2.0","method":7,"id":4}"#)), -32600);
    assert_eq!(error_code(&c.ask(r#"{"jsonrpc":"2.0","method":"list","params":"x","id":5}"#)), -32600);
    assert_eq!(error_code(&c.ask(r#"{"jsonrpc":"2.0","method":"list","id":[1]}"#)), -32600);
    assert_eq!(error_code(&c.ask("42")), -32600);
    assert_eq!(error_code(&c.ask("[]")), -32600);
    let v = c.ask(r#"{"jsonrpc":"2.0","method":"no_such_method","id":"m"}"#);
    assert_eq!((error_code(&v), &v["id"]), (-32601, &json!("m")), "{v}");
    // A notification gets no answer; a batch gets an array of answers.
    c.send(&good.replace(r#""id":1,"#, ""));
    let batch = c.ask(&format!("[{good}, 1]"));
    assert_eq!(batch[0]["result"], good_result, "{batch}");
    assert_eq!(error_code(&batch[1]), -32600);
    // Invalid UTF-8 is a parse error too.
    c.writer.write_all(b"\xff\xfe\n").unwrap();
    assert_eq!(error_code(&c.recv()), -32700);
    assert_eq!(c.ask(good)["result"], good_result);

    // A line over 64 KiB: an error object, then the connection closes.
    let mut long = Raw::connect(server);
    let line = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":["{}"]}}"#, "a".repeat(70 * 1024));
    long.send(&line);
    let _ = long.writer.shutdown(std::net::Shutdown::Write);
    let v = long.recv();
    assert_eq!(error_code(&v), -32600, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("longer than 65536 bytes"), "{v}");
    let mut rest = String::new();
    assert_eq!(long.reader.read_line(&mut rest).unwrap_or(0), 0, "closed after the error, got {rest:?}");

    // The server goes on serving, on old and new connections.
    assert_eq!(c.ask(good)["result"], good_result);
    assert_eq!(Raw::connect(server).ask(good)["result"], good_result);
}

#[test]
fn malformed_requests_get_json_rpc_errors_and_the_servers_keep_serving() {
    let (reg, port) = registry();
    let (srv, srv_addr) = serve(port, "hello");
    check_malformed(addr(port), r#"{"jsonrpc":"2.0","id":1,"method":"list"}"#, json!(["hello"]));
    check_malformed(srv_addr, r#"{"jsonrpc":"2.0","id":1,"method":"sqrt","params":[16]}"#, json!(4.0));
    // Named params work too, and the CLI still gets through.
    let v = Raw::connect(srv_addr).ask(r#"{"jsonrpc":"2.0","id":9,"method":"pow","params":{"base":3,"exponent":2}}"#);
    assert_eq!((&v["result"], &v["id"]), (&json!(9.0), &json!(9)), "{v}");
    assert_eq!(stdout(&call(port, "hello", "sqrt", &["16"])), "4\n");
    for p in [&reg, &srv] {
        assert!(!p.stderr().contains("panicked"), "{}", p.stderr());
    }
    srv.wait_stderr("bad request from 127.0.0.1:");
}

/// The `→ request` / `← answer` pairs of one part of docs/rmi.md.
fn doc_exchanges(part: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut lines = part.lines();
    while let Some(line) = lines.next() {
        if let Some(req) = line.strip_prefix("→ ") {
            let answer = lines.next().and_then(|l| l.strip_prefix("← ")).unwrap_or_else(|| panic!("no ← line after {line:?}"));
            pairs.push((req.to_string(), answer.to_string()));
        }
    }
    pairs
}

#[test]
fn the_protocol_examples_in_the_docs_are_what_the_servers_answer() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rmi.md")).expect("docs/rmi.md");
    let (registry_part, calculator_part) = doc.split_once("### The calculator object").expect("a calculator section");
    let (_reg, port) = registry();
    let (_srv, srv_addr) = serve(port, "hello");
    // The docs say 127.0.0.1:40123 where the server's real address goes.
    let real = srv_addr.to_string();
    for (part, server) in [(registry_part, addr(port)), (calculator_part, srv_addr)] {
        let pairs = doc_exchanges(part);
        assert!(pairs.len() >= 8, "{} examples", pairs.len());
        let mut c = Raw::connect(server);
        for (req, want) in pairs {
            let got = c.ask(&req.replace("127.0.0.1:40123", &real));
            let want: Value = serde_json::from_str(&want.replace("127.0.0.1:40123", &real)).expect("the docs' answer is JSON");
            assert_eq!(got, want, "for {req}");
        }
    }
}

/// Sends one line and reads one answer; `None` when the connection is gone
/// (the server closed it to make room, say).
fn try_ask(c: &mut Raw, line: &str) -> Option<Value> {
    c.writer.write_all(format!("{line}\n").as_bytes()).ok()?;
    let mut answer = String::new();
    c.reader.read_line(&mut answer).ok().filter(|n| *n > 0)?;
    serde_json::from_str(&answer).ok()
}

/// Waits (bounded) until `pred` holds for the registry's list of names.
fn wait_for_list(port: u16, pred: impl Fn(&Value) -> bool, what: &str) {
    let deadline = Instant::now() + START;
    loop {
        let names = Raw::connect(addr(port)).ask(r#"{"jsonrpc":"2.0","id":1,"method":"list"}"#);
        if pred(&names["result"]) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {names}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// 64 connections that each bind a name with a lease and then never renew
/// it (sending only blank lines) neither lock other clients out nor keep
/// their names: calls get through at once, and the names go when their
/// leases run out, while the real server, which renews, keeps its own.
#[test]
fn idle_lease_holders_cannot_fill_the_registry() {
    let p = Proc::spawn(&["rmi", "registry", "--port", "0", "--lease-ttl", "1"]);
    let port = p.listening().port();
    let (_srv, _) = serve(port, "hello");
    let mut squatters: Vec<Raw> = Vec::new();
    for i in 0..64 {
        let mut c = Raw::connect(addr(port));
        let bind = json!({"jsonrpc": "2.0", "id": i, "method": "bind", "params": {"name": format!("squat{i}"), "address": "127.0.0.1:9", "lease": true}});
        let _ = try_ask(&mut c, &bind.to_string());
        squatters.push(c);
    }
    for c in &mut squatters {
        let _ = c.writer.write_all(b"\n");
    }
    let o = distlab(&["rmi", "list", &format!("rmi://127.0.0.1:{port}"), "--timeout", "10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("hello\n"), "{}", stdout(&o));
    assert_eq!(stdout(&call(port, "hello", "add", &["2", "3"])), "5\n");
    // No renewals: after a second, only the server that renews is left.
    wait_for_list(port, |names| *names == json!(["hello"]), "the squatters' leases never ran out");
    assert_eq!(stdout(&call(port, "hello", "sqrt", &["16"])), "4\n");
    assert!(!p.stderr().contains("panicked"), "{}", p.stderr());
}

/// 64 connections to the object server that send a blank line every 50 ms
/// do not shut a real client out, and are closed once they have sent no
/// request for the idle timeout.
#[test]
fn blank_lines_cannot_hold_the_object_server() {
    let (_reg, port) = registry();
    let reg = format!("rmi://127.0.0.1:{port}");
    let srv = Proc::spawn(&["rmi", "serve", "--registry", &reg, "--name", "hello", "--port", "0", "--idle-timeout", "0.5"]);
    let srv_addr = srv.listening();
    let idle: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect_timeout(&srv_addr, Duration::from_secs(5)).expect("connect")).collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keeper = {
        let (idle, stop) = (idle.iter().map(|s| s.try_clone().unwrap()).collect::<Vec<_>>(), stop.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && started.elapsed() < Duration::from_secs(20) {
                for mut s in &idle {
                    let _ = s.write_all(b"\n");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let o = call(port, "hello", "add", &["2", "3"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "5\n"), "{}", stderr(&o));
    // Every idle connection is closed by the server, blank lines or not.
    for s in &idle {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        let closed = match (&*s).read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "a connection sending blank lines was kept open");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    keeper.join().unwrap();
    assert_eq!(stdout(&call(port, "hello", "sqrt", &["16"])), "4\n");
}

/// A stand-in for a full registry or server: answers each of up to `n`
/// connections with `ServerBusy` (after reading its request, or at once when
/// `unread`) and closes it.
fn busy_listener(n: usize, unread: bool) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(n).flatten() {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            if !unread {
                let _ = BufReader::new(&s).read_line(&mut String::new());
            }
            let _ = (&s).write_all(b"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32003,\"message\":\"server busy: 64 connections open; try again later\"},\"id\":null}\n");
        }
    });
    a
}

/// A busy registry is the registry's state, not the object's error: exit 2
/// and a message that names the registry, never `hello.add(2, 3): …`.
#[test]
fn a_busy_registry_is_not_reported_as_the_object_s_error() {
    for unread in [false, true] {
        let reg = busy_listener(1, unread);
        let o = call(reg.port(), "hello", "add", &["2", "3"]);
        assert_fails(&o, 2, &["the registry at 127.0.0.1:", "is busy, try again later"]);
        assert!(!stderr(&o).contains("hello.add("), "{}", stderr(&o));
    }
    // A busy object server, found through a registry that answers lookups.
    let server = busy_listener(1, false);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let reg = l.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Some(s) = l.incoming().next().and_then(Result::ok) {
            let mut line = String::new();
            let _ = BufReader::new(&s).read_line(&mut line);
            let id: Value = serde_json::from_str::<Value>(&line).map(|v| v["id"].clone()).unwrap_or(Value::Null);
            let _ = (&s).write_all(format!("{}\n", json!({"jsonrpc": "2.0", "result": server.to_string(), "id": id})).as_bytes());
        }
    });
    let o = call(reg.port(), "hello", "add", &["2", "3"]);
    assert_fails(&o, 2, &["the server of \"hello\" at", "is busy, try again later"]);
}

/// Ids beyond 64 bits, and any other number or string, come back exactly as
/// sent, from the registry and from the object server.
#[test]
fn request_ids_beyond_64_bits_round_trip_exactly() {
    let (_reg, port) = registry();
    let (_srv, srv_addr) = serve(port, "hello");
    for (server, method) in [(addr(port), r#""method":"list""#), (srv_addr, r#""method":"sqrt","params":[16]"#)] {
        let mut c = Raw::connect(server);
        for id in ["123456789012345678901234567890", "18446744073709551616", "-99999999999999999999", "1.50", "\"big\""] {
            c.send(&format!(r#"{{"jsonrpc":"2.0","id":{id},{method}}}"#));
            let mut line = String::new();
            c.reader.read_line(&mut line).unwrap();
            assert!(line.trim_end().ends_with(&format!(r#""id":{id}}}"#)), "{id}: {line}");
        }
        c.send(&format!(r#"[{{"jsonrpc":"2.0","id":340282366920938463463374607431768211457,{method}}}]"#));
        let mut line = String::new();
        c.reader.read_line(&mut line).unwrap();
        assert!(line.contains(r#""id":340282366920938463463374607431768211457}"#), "{line}");
    }
}
