//! The subcommands, one file each.

pub mod bench;
pub mod cluster;
pub mod compare;
pub mod ipc;
pub mod list;
pub mod multicast;
pub mod node;
pub mod rmi;
pub mod run;
pub mod schema;
pub mod test;
pub mod wire;

pub const EXAMPLES: &str = "\
Examples:
  distlab run scenarios/election/seed-ring.yaml          trace, summary and checks
  distlab run scenarios/election/*.yaml --format quiet   summaries only
  distlab run FILE --seed 7 --format jsonl               another seed, JSON lines
  distlab test                                           every scenario against its snapshot
  distlab test scenarios/election --accept               write new or changed snapshots
  distlab run FILE --transport udp                       every message through real UDP sockets
  distlab test --transport tcp                           the same traces over TCP on 127.0.0.1
  distlab compare scenarios/balance/compare-*.yaml       one table, one row per scenario
  distlab list                                           algorithms, commands, params
  distlab schema > distlab.schema.json                   for yaml-language-server
  distlab rmi registry --port 1878 &                     remote objects over JSON-RPC:
  distlab rmi serve --name hello &                       a calculator bound as \"hello\",
  distlab rmi call rmi://127.0.0.1:1878/hello sqrt 16    and a call to it
  distlab multicast listen &                             the seed's multicast chat on 127.0.0.1:
  distlab multicast send --message hello                 224.3.29.71, port 10000
  distlab ipc read data.txt --follow &                   the seed's file IPC: lines appended
  echo hello | distlab ipc write data.txt                to data.txt, printed as they arrive

Exit codes: 0 all good, 1 a check or snapshot failed, 2 bad input.";
