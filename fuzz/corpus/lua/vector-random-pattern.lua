-- Vector clocks on a random pattern: four nodes, 30 events, each a send to
-- a random other node or a local event, over random 1ms-6ms delays (so
-- messages overtake each other). math.random is seeded from the scenario
-- seed, so the pattern is the same on every run. The vector-condition check
-- compares every pair of events with the happened-before relation rebuilt
-- from the message flow.
scenario {
  name = "Vector clocks on a random pattern of 30 events",
  algorithm = "clock.vector", nodes = 4, seed = 11,
  network = { latency = "1ms..6ms" },
}
for k = 1, 30 do
  local node = math.random(1, 4)
  at(k * 2, function()
    if math.random() < 0.7 then
      local to = math.random(1, 3)
      if to >= node then to = to + 1 end
      send(node, to)
    else
      internal(node)
    end
  end)
end
