//! `distlab multicast`: the group-communication lab's chat — `listen` joins a
//! group and prints each datagram as the seed's Python server does, `send`
//! sends each line of standard input (or one `--message`) as the seed's client
//! does. The sockets are in [`distlab::tools::multicast`]; this file parses
//! the options, prints and maps failures to exit codes.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::net::Ipv4Addr;
use std::time::Duration;

use clap::{Args, Subcommand};
use distlab::scenario::units::Dur;
use distlab::tools::multicast::{self, Channel, LOOPBACK, Listener, MAX_DATAGRAM, MulticastError, SEED_GROUP, SEED_PORT, SEED_TTL, Sender};

use crate::Outcome;

pub const ABOUT: &str = "\
The seed's group-communication lab: a UDP multicast chat. `listen` is the
seed's server (it joins the group and prints `Received message from (addr,
port): text` for each datagram), `send` is its client (each line typed is one
datagram; a line `exit` stops it). Plain UTF-8 datagrams, so the seed's own
Python client and server can take either side.

Everything stays on this machine: both ends send and join on the loopback
interface 127.0.0.1 (IP_MULTICAST_IF, IP_ADD_MEMBERSHIP) with TTL 1, unless
--interface names another interface.

The seed's programs as written send and join on the interface of the
default route, not on 127.0.0.1, so unchanged they may not hear distlab or be
heard by it. Pin them to loopback too — in the server,
  mreq = struct.pack('4s4s', group, socket.inet_aton('127.0.0.1'))
(and, to share the port with a distlab listener on this machine,
  sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1) before bind),
and in the client,
  sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('127.0.0.1'))
— or, on a lab network where that is wanted, give distlab --interface with
that interface's address.

Examples (two terminals):
  distlab multicast listen                      group 224.3.29.71, port 10000, as in the seed
  distlab multicast send                        type lines; `exit` or Ctrl-D to stop

In one script:
  distlab multicast listen --count 1 --timeout 5s &
  sleep 0.5; distlab multicast send --message hello
  # prints: Received message from ('127.0.0.1', 54321): hello";

#[derive(Args)]
pub struct MulticastArgs {
    #[command(subcommand)]
    pub command: MulticastCommand,
}

#[derive(Subcommand)]
pub enum MulticastCommand {
    /// Join a group and print each datagram as the seed's server does.
    #[command(long_about = LISTEN_ABOUT)]
    Listen(ListenArgs),
    /// Send each line of standard input (or one --message) to a group.
    #[command(long_about = SEND_ABOUT)]
    Send(SendArgs),
}

/// Where the chat happens (shared by both subcommands).
#[derive(Args)]
pub struct ChannelArgs {
    /// The group: an IPv4 multicast address (224.0.0.0 to 239.255.255.255).
    #[arg(long, default_value_t = SEED_GROUP, value_parser = group, value_name = "ADDR")]
    pub group: Ipv4Addr,
    /// The UDP port.
    #[arg(long, default_value_t = SEED_PORT)]
    pub port: u16,
    /// The local interface, by its IPv4 address, to send from and join on.
    /// Without it, 127.0.0.1: nothing leaves this machine. Naming another
    /// interface puts the datagrams on that interface's network.
    #[arg(long, value_parser = interface, value_name = "ADDR")]
    pub interface: Option<Ipv4Addr>,
}

impl ChannelArgs {
    fn channel(&self) -> Channel {
        Channel { group: self.group, port: self.port, interface: self.interface.unwrap_or(LOOPBACK) }
    }
}

const LISTEN_ABOUT: &str = "\
Join a group and print each datagram as the seed's Python server does:

  Received message from ('127.0.0.1', 54321): hello

(the sender's address and port as Python prints a tuple, then the text; bytes
that are not UTF-8 are shown as U+FFFD). One line on standard error says which
group, port and interface it joined; with --port 0 the kernel picks the port
and that line tells it. Several listeners can share a port (SO_REUSEADDR,
SO_REUSEPORT), as group members do.

Runs until Ctrl-C, or until --count datagrams have arrived, or until --timeout
passes without a datagram.

Examples:
  distlab multicast listen                                 the seed's group and port
  distlab multicast listen --group 239.255.0.7 --port 5007
  distlab multicast listen --count 3 --timeout 10s         three datagrams, then exit

Exit codes: 0 done; 1 --timeout passed before --count datagrams arrived;
2 bad options or the group cannot be joined (port held by a program without
SO_REUSEADDR, such as the seed's own server; an --interface that is not this
machine's).";

#[derive(Args)]
pub struct ListenArgs {
    #[command(flatten)]
    pub channel: ChannelArgs,
    /// Exit after this many datagrams.
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    pub count: Option<u64>,
    /// Exit after this long without a datagram (e.g. 500ms, 10s, 2m).
    #[arg(long, value_parser = positive_dur, value_name = "DUR")]
    pub timeout: Option<Duration>,
}

const SEND_ABOUT: &str = "\
Send each line of standard input to the group as one plain UTF-8 datagram, as
the seed's client does; stop at the end of input or at a line `exit` (any
case), which is not sent. With --message, send that one message instead and
read nothing. When standard input is a terminal it prompts as the seed does.
One line on standard error says from which address (what listeners print) and
to which group it sends, one more how many datagrams it sent.

The socket sends through 127.0.0.1 (IP_MULTICAST_IF) with loopback on, so
listeners on this machine receive it and nothing else does, unless
--interface names another interface. The TTL is the seed's 1 (0 also works on
this machine); a larger one needs an explicit --interface, since it only
matters beyond this machine.

Examples:
  distlab multicast send                                   type lines, `exit` to stop
  distlab multicast send --message 'hello, group'
  printf 'one\\ntwo\\n' | distlab multicast send --group 239.255.0.7 --port 5007

Exit codes: 0 sent; 2 bad options, a message longer than one UDP datagram
(65507 bytes), or the socket cannot send.";

#[derive(Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub channel: ChannelArgs,
    /// Send this one message instead of reading standard input.
    #[arg(long, short = 'm', value_name = "TEXT")]
    pub message: Option<String>,
    /// Time-to-live of the datagrams: 1 (the seed's) or 0; up to 255 with --interface.
    #[arg(long, default_value_t = SEED_TTL, value_parser = clap::value_parser!(u32).range(0..=255))]
    pub ttl: u32,
}

fn group(text: &str) -> Result<Ipv4Addr, String> {
    multicast::parse_group(text).map_err(|e| e.to_string())
}

fn interface(text: &str) -> Result<Ipv4Addr, String> {
    multicast::parse_interface(text).map_err(|e| e.to_string())
}

pub fn positive_dur(text: &str) -> Result<Duration, String> {
    match Dur::parse(text) {
        Ok(Dur(0)) => Err(format!("{text:?} is zero: expected a duration above 0, such as 500ms or 10s")),
        Ok(Dur(ns)) => Ok(Duration::from_nanos(ns)),
        Err(e) => Err(e),
    }
}

pub fn run(args: MulticastArgs) -> anyhow::Result<Outcome> {
    match args.command {
        MulticastCommand::Listen(a) => listen(a),
        MulticastCommand::Send(a) => send(a),
    }
}

fn listen(args: ListenArgs) -> anyhow::Result<Outcome> {
    let listener = match Listener::join(args.channel.channel()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("distlab multicast listen: {e}");
            return Ok(Outcome::BadInput);
        }
    };
    let c = listener.channel();
    eprintln!("distlab multicast listen: joined group {} on interface {}, port {}", c.group, c.interface, c.port);
    let stdout = std::io::stdout();
    let mut got = 0u64;
    while args.count.is_none_or(|n| got < n) {
        match listener.recv(args.timeout) {
            Ok(Some(datagram)) => {
                let mut out = stdout.lock();
                writeln!(out, "{}", datagram.seed_line())?;
                out.flush()?;
                got += 1;
            }
            Ok(None) => {
                let t = args.timeout.unwrap_or_default();
                return Ok(match args.count {
                    Some(n) => {
                        eprintln!("distlab multicast listen: {got} of {n} datagrams, then {t:?} without one");
                        Outcome::Failed
                    }
                    None => Outcome::Ok,
                });
            }
            Err(e) => {
                eprintln!("distlab multicast listen: {e}");
                return Ok(Outcome::BadInput);
            }
        }
    }
    Ok(Outcome::Ok)
}

fn send(args: SendArgs) -> anyhow::Result<Outcome> {
    if args.ttl > 1 && args.channel.interface.is_none() {
        eprintln!(
            "distlab multicast send: --ttl {} only matters beyond this machine; on 127.0.0.1 use 1 (the seed's) or 0, or name the --interface to send on",
            args.ttl
        );
        return Ok(Outcome::BadInput);
    }
    if let Some(m) = &args.message
        && let Err(e) = multicast::check_len(m.as_bytes())
    {
        eprintln!("distlab multicast send: --message: {e}");
        return Ok(Outcome::BadInput);
    }
    let sender = match Sender::open(args.channel.channel(), args.ttl) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("distlab multicast send: {e}");
            return Ok(Outcome::BadInput);
        }
    };
    let from = sender.local_addr()?;
    let interface = args.channel.interface.unwrap_or(LOOPBACK);
    eprintln!("distlab multicast send: from {from} to {} (TTL {}, interface {interface})", sender.destination(), args.ttl);
    let mut sent = 0u64;
    let result = match &args.message {
        Some(m) => sender.send(m.as_bytes()).map(|()| sent += 1).map_err(|e| SendError::Line(1, e)),
        None => send_lines(&sender, &mut sent),
    };
    eprintln!("distlab multicast send: sent {sent} datagram{}", if sent == 1 { "" } else { "s" });
    match result {
        Ok(()) => Ok(Outcome::Ok),
        Err(SendError::Input(e)) => Err(anyhow::Error::new(e).context("cannot read standard input")),
        Err(SendError::Line(n, MulticastError::TooLong { .. })) => {
            eprintln!(
                "distlab multicast send: line {n} is longer than {MAX_DATAGRAM} bytes, the most one UDP datagram over IPv4 carries; stopped (nothing of it was sent)"
            );
            Ok(Outcome::BadInput)
        }
        Err(SendError::Line(_, e)) => {
            eprintln!("distlab multicast send: {e}");
            Ok(Outcome::BadInput)
        }
    }
}

enum SendError {
    Input(std::io::Error),
    Line(u64, MulticastError),
}

/// Sends each stdin line until the end of input or a line `exit`.
fn send_lines(sender: &Sender, sent: &mut u64) -> Result<(), SendError> {
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    let mut number = 0u64;
    loop {
        if prompt {
            eprint!("Enter message to send (type 'exit' to quit): ");
            let _ = std::io::stderr().flush();
        }
        buf.clear();
        // At most one datagram and a CRLF: a longer line is refused unread.
        if (&mut input).take(MAX_DATAGRAM as u64 + 2).read_until(b'\n', &mut buf).map_err(SendError::Input)? == 0 {
            if prompt {
                eprintln!(); // Ctrl-D: end the prompt's line.
            }
            return Ok(());
        }
        number += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        if std::str::from_utf8(&buf).is_ok_and(multicast::is_exit) {
            return Ok(());
        }
        sender.send(&buf).map_err(|e| SendError::Line(number, e))?;
        *sent += 1;
    }
}
