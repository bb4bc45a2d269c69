-- A randomised crash schedule over 20 nodes that stays reproducible:
-- math.random is seeded from the scenario seed. Every 30ms a random node
-- crashes or recovers; at 600ms everybody comes back and the highest id wins.
scenario {
  name = "Bully under a random crash and recovery schedule (20 nodes)",
  algorithm = "election.bully", nodes = 20, seed = 11,
  network = { latency = "1ms..3ms" },
  params = { heartbeat = "25ms" },
  ["until"] = "1s",
}
local down = {}
every("30ms", function()
  if now() >= 600 then return end
  local n = math.random(1, 20)
  if down[n] then down[n] = nil; recover(n) else down[n] = true; crash(n) end
end)
at("600ms", function()
  for n = 1, 20 do if down[n] then down[n] = nil; recover(n) end end
end)
expect { leader = 20 }
