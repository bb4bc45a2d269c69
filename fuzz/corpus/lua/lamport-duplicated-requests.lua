-- The network delivers every REQUEST twice. Lamport's sites number their
-- messages per link, so the second copy is recognised and ignored: safety,
-- liveness and the 3(N-1) count per entry hold.
scenario {
  name = "Lamport mutual exclusion with every REQUEST duplicated",
  algorithm = "mutex.lamport", nodes = 3, seed = 6,
  network = { latency = "1ms..3ms" },
}
on_send(function(m)
  if m.kind == "REQUEST" then return "duplicate" end
end)
at("0ms", function() request(1); request(2); request(3) end)
expect { safety = true, liveness = true, messages_per_cs = { exact = 6 } }
