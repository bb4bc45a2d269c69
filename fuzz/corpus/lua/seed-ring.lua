-- The seed lab's ring election as a Lua scenario: the same timeline as
-- scenarios/election/seed-ring.yaml, so the trace is byte-identical.
scenario {
  name = "Ring election after the coordinator fails (the seed lab)",
  algorithm = "election.ring",
  nodes = { 0, 1, 2, 3, 4 },
  seed = 1,
  network = { latency = "1ms..3ms" },
}
at("0ms", function() crash(4) end)
at("1ms", function() start_election(3) end)
expect { leader = 3, messages_by_kind = { Election = { max = 9 } } }
