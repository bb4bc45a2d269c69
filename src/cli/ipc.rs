//! `distlab ipc`: the interprocess-communication lab — `write` appends each
//! line of standard input to a file, `read` prints each line of it as the
//! seed's Java reader does (`Received: line`), and with `--follow` also the
//! lines appended later. The file handling is in [`distlab::tools::ipc`]; this
//! file parses the options, prints and maps failures to exit codes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use distlab::tools::ipc::{self, End, Event, IpcError, ReadOptions};

use crate::Outcome;
use crate::cli::multicast::positive_dur;

pub const ABOUT: &str = "\
The seed's interprocess-communication lab: two processes share a text file.
`write` is the seed's Java writer (each line typed is appended to the file
and flushed at once), `read` is its reader (it prints `Received: line` for
each line); `read --follow` goes on printing lines as they are appended, like
`tail -f`. Plain text lines, so the seed's Java programs can take either side.

Examples (two terminals):
  distlab ipc write data.txt                type lines; Ctrl-D to stop
  distlab ipc read data.txt --follow        prints each line as it arrives

In one script:
  printf 'hello\\nworld\\n' | distlab ipc write data.txt
  distlab ipc read data.txt                 Received: hello / Received: world";

#[derive(Args)]
pub struct IpcArgs {
    #[command(subcommand)]
    pub command: IpcCommand,
}

#[derive(Subcommand)]
pub enum IpcCommand {
    /// Append each line of standard input to FILE, flushing after each.
    #[command(long_about = WRITE_ABOUT)]
    Write(WriteArgs),
    /// Print `Received: line` for each line of FILE (--follow: and later ones).
    #[command(long_about = READ_ABOUT)]
    Read(ReadArgs),
}

const WRITE_ABOUT: &str = "\
Append each line of standard input to FILE, one write and flush per line, so
that a reader sees each line as soon as it is typed. FILE is created if it is
missing. The seed's writer empties data.txt when it starts (Java's
`new FileWriter`); this one appends, unless --truncate asks for the seed's
behaviour. A `\\r\\n` line ending is written as `\\n`.

Examples:
  distlab ipc write data.txt                        type lines; Ctrl-D to stop
  printf 'one\\ntwo\\n' | distlab ipc write data.txt
  distlab ipc write data.txt --truncate < notes.txt  start from an empty file

Exit codes: 0 done; 2 FILE cannot be written (a directory, a folder that
does not exist, no permission).";

#[derive(Args)]
pub struct WriteArgs {
    /// The file to append to (the seed uses data.txt).
    pub file: PathBuf,
    /// Empty the file first, as the seed's Java writer does.
    #[arg(long)]
    pub truncate: bool,
}

const READ_ABOUT: &str = "\
Print `Received: line` for each line of FILE, as the seed's Java reader does,
then exit at the end of the file. A last line without its newline is printed
too (Java's readLine does the same); bytes that are not UTF-8 are shown as
U+FFFD.

With --follow, keep printing the lines appended later, like `tail -f` (the
file is polled every 50ms): a line appears once its newline is written; if
FILE does not exist yet, wait for it; if it is emptied (the seed's writer
does that when it starts) or replaced, read it again from its start (a note
on standard error says so). It stops on Ctrl-C or after --timeout without new
data, printing an unfinished last line as it is.

Examples:
  distlab ipc read data.txt                        what is there now
  distlab ipc read data.txt --follow               and every line appended later
  distlab ipc read data.txt --follow --timeout 30s   stop after 30s of silence

Exit codes: 0 done; 2 FILE cannot be read (missing without --follow, a
directory, no permission).";

#[derive(Args)]
pub struct ReadArgs {
    /// The file to read (the seed uses data.txt).
    pub file: PathBuf,
    /// Keep reading lines appended later, until Ctrl-C or --timeout.
    #[arg(long, short)]
    pub follow: bool,
    /// With --follow: stop after this long without new data (e.g. 500ms, 10s, 2m).
    #[arg(long, requires = "follow", value_parser = positive_dur, value_name = "DUR")]
    pub timeout: Option<Duration>,
}

pub fn run(args: IpcArgs) -> anyhow::Result<Outcome> {
    match args.command {
        IpcCommand::Write(a) => write(a),
        IpcCommand::Read(a) => read(a),
    }
}

fn write(args: WriteArgs) -> anyhow::Result<Outcome> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let how = if args.truncate { "writing" } else { "appending" };
        eprintln!("distlab ipc write: {how} each line to {}; Ctrl-D to stop", args.file.display());
    }
    match ipc::append_lines(&args.file, &mut stdin.lock(), args.truncate, |_| {}) {
        Ok(_) => Ok(Outcome::Ok),
        Err(e) => fail("write", e),
    }
}

fn read(args: ReadArgs) -> anyhow::Result<Outcome> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let name = args.file.display().to_string();
    let opts = ReadOptions { follow: args.follow, timeout: args.timeout };
    let result = ipc::read_lines(&args.file, opts, |event| match event {
        Event::Line(line) => {
            writeln!(out, "Received: {line}")?;
            // Following: each line as soon as it arrives, even into a pipe.
            if args.follow { out.flush() } else { Ok(()) }
        }
        Event::Truncated => {
            eprintln!("distlab ipc read: {name} was emptied; reading it again from its start");
            Ok(())
        }
        Event::Replaced => {
            eprintln!("distlab ipc read: {name} was replaced; reading the new file from its start");
            Ok(())
        }
        Event::Waiting => {
            eprintln!("distlab ipc read: {name} does not exist yet; waiting for it");
            Ok(())
        }
    });
    match result {
        Ok(End::Eof | End::Timeout) => {
            out.flush()?;
            Ok(Outcome::Ok)
        }
        Err(e) => fail("read", e),
    }
}

fn fail(what: &str, e: IpcError) -> anyhow::Result<Outcome> {
    match e {
        // A closed pipe and the like: main decides (quietly for a broken pipe).
        IpcError::Output(io) => Err(io.into()),
        IpcError::NotFound { .. } if what == "read" => {
            eprintln!("distlab ipc read: {e} (write it first with `distlab ipc write`, or use --follow to wait for it)");
            Ok(Outcome::BadInput)
        }
        e => {
            eprintln!("distlab ipc {what}: {e}");
            Ok(Outcome::BadInput)
        }
    }
}
