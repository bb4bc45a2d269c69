-- Every 7ms a random node asks the central coordinator for the critical
-- section, for 200ms, then the script stops the run once everyone is served.
scenario {
  name = "Central coordinator under a random request stream",
  algorithm = "mutex.central", nodes = 6, seed = 8,
  network = { latency = "1ms..3ms" },
  params = { hold = "2ms" },
}
every("7ms", function()
  if now() <= 200 then request(math.random(1, 6)) end
end)
at("400ms", function() stop() end)
expect { safety = true, liveness = true }
