-- Every 80ms, cut the current coordinator off from everybody else. With
-- heartbeats the majority side elects a new coordinator each time; at 400ms
-- the network heals and the highest id wins back.
scenario {
  name = "Bully: a partition that always isolates the current coordinator",
  algorithm = "election.bully", nodes = 5, seed = 4,
  network = { latency = "1ms..3ms" },
  params = { heartbeat = "20ms" },
  ["until"] = "700ms",
}
local leader = 5
on_observe("Elected", function(o) leader = o.node end)
every("80ms", function()
  if now() >= 400 then return end
  local others = {}
  for n = 1, 5 do if n ~= leader then others[#others + 1] = n end end
  print("isolate the coordinator " .. leader)
  partition({ leader }, others)
end)
at("400ms", function() heal() end)
expect { leader = 5 }
