//! The `distlab` command line: clap derive, one `Args` struct per subcommand,
//! and the mapping of outcomes to exit codes (0 all good, 1 a check or a
//! snapshot failed, 2 the input or the environment is wrong).

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run distributed-systems algorithms on scenario files: a deterministic
/// simulated network, faults on a timeline, a readable trace, checked invariants
/// and snapshot comparison.
#[derive(Parser)]
#[command(name = "distlab", version, about, after_help = cli::EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios and print their traces, summaries and checks.
    Run(cli::run::RunArgs),
    /// Compare every scenario's trace with its snapshot (and accept new ones).
    Test(cli::test::TestArgs),
    /// Run several scenarios and print one table of their results side by side.
    Compare(cli::compare::CompareArgs),
    /// List the algorithms with their commands, parameters and checks.
    List(cli::list::ListArgs),
    /// Print the JSON Schema of the scenario format (for yaml-language-server).
    Schema(cli::schema::SchemaArgs),
    /// Measure engine throughput against a bare binary-heap baseline.
    Bench(cli::bench::BenchArgs),
    /// Remote method invocation: a registry, calculator objects and calls
    /// over TCP with JSON-RPC 2.0.
    Rmi(cli::rmi::RmiArgs),
    /// Run a scenario live: one OS process per node, real sockets and timers.
    #[command(long_about = cli::cluster::CLUSTER_ABOUT)]
    Cluster(cli::cluster::ClusterArgs),
    /// One node of a live cluster (`distlab cluster` starts these).
    #[command(hide = true)]
    Node(cli::node::NodeArgs),
    /// The seed's multicast chat: join a group and print what arrives, or
    /// send lines to it (on 127.0.0.1 unless --interface says otherwise).
    #[command(long_about = cli::multicast::ABOUT)]
    Multicast(cli::multicast::MulticastArgs),
    /// The seed's file IPC: append lines to a file, or print its lines
    /// (and, with --follow, the lines appended later).
    #[command(long_about = cli::ipc::ABOUT)]
    Ipc(cli::ipc::IpcArgs),
}

/// What a subcommand concluded.
pub enum Outcome {
    Ok,
    /// A check, an expectation or a snapshot failed.
    Failed,
    /// The input or the environment is wrong (message already printed).
    BadInput,
}

/// glibc's allocator returns freed memory at the top of the heap to the
/// kernel and takes it back on the next run, page fault by page fault: in a
/// process that runs many scenarios (`distlab test`, `distlab bench`,
/// `distlab compare`) that churn cost about a fifth of the engine's time
/// (docs/performance.md). Keep freed memory for the next run instead; the
/// peak stays what the largest run needs.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cli::run::run(a),
        Command::Test(a) => cli::test::run(a),
        Command::Compare(a) => cli::compare::run(a),
        Command::List(a) => cli::list::run(a),
        Command::Schema(a) => cli::schema::run(a),
        Command::Bench(a) => cli::bench::run(a),
        Command::Rmi(a) => cli::rmi::run(a),
        Command::Cluster(a) => cli::cluster::run(a),
        Command::Node(a) => cli::node::run(a),
        Command::Multicast(a) => cli::multicast::run(a),
        Command::Ipc(a) => cli::ipc::run(a),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::BadInput) => ExitCode::from(2),
        // The reader went away (`distlab list | head`): stop quietly.
        Err(e) if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("distlab: {e:#}");
            ExitCode::from(2)
        }
    }
}
