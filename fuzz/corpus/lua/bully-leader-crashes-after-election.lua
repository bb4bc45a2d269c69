-- The bully version: whoever wins first is crashed 2ms after it announces
-- itself; the survivors' watchdogs start a new election.
scenario {
  name = "Bully: the new coordinator crashes right after its election",
  algorithm = "election.bully", nodes = 6, seed = 3,
  network = { latency = "1ms..3ms" },
  params = { heartbeat = "20ms" },
  ["until"] = "400ms",
}
local victim = nil
on_observe("Elected", function(o)
  if victim == nil then
    victim = o.node
    after("2ms", function() crash(victim) end)
  end
end)
at("0ms", function() crash(6) end)
at("1ms", function() detect_failure(2) end)
expect { leader = 4 }
