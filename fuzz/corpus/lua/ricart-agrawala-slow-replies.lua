-- Every REPLY to site 1 is held back 15ms on delivery. Site 1 still enters in
-- timestamp order, only later: the response-time metrics show the cost.
scenario {
  name = "Ricart-Agrawala with slow replies to one site",
  algorithm = "mutex.ricart-agrawala", nodes = 4, seed = 5,
  network = { latency = "1ms..3ms" },
}
on_deliver(function(m)
  if m.kind == "REPLY" and m.to == 1 then return { delay = "15ms" } end
end)
at("0ms", function() request(1); request(2) end)
at("1ms", function() request(3); request(4) end)
expect { safety = true, liveness = true, messages_per_cs = { exact = 6 } }
