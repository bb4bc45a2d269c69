-- The moment a coordinator is elected, crash it 2ms later -- once. Its
-- heartbeats stop, the followers' watchdogs fire and they elect again.
scenario {
  name = "Ring: the new coordinator crashes right after its election",
  algorithm = "election.ring", nodes = 5, seed = 2,
  network = { latency = "1ms..3ms" },
  params = { heartbeat = "20ms" },
  ["until"] = "400ms",
}
local crashed = false
on_observe("Elected", function(o)
  if not crashed then
    crashed = true
    print("process " .. o.node .. " was just elected: crash it in 2ms")
    after("2ms", function() crash(o.node) end)
  end
end)
at("10ms", function() crash(5) end)
at("11ms", function() detect_failure(1) end)
expect { leader = 3 }
