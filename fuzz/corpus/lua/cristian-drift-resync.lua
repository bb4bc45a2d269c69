-- Cristian every second on clocks that drift 100 ppm (node 2 fast, node 3
-- slow, the server perfect), with fixed symmetric 2ms delays so a sync is
-- exact. Between syncs a client drifts at most 100 ppm × 1s = 100us from the
-- server, so two clients drifting apart stay within 2 × 100us = 200us. The
-- script sets the clocks, asks for a sync every second and samples the
-- clocks every 250ms; the skew expectation holds at every sample after the
-- first sync.
scenario {
  name = "Cristian every second keeps 100 ppm clocks within 200us",
  algorithm = "clock.cristian", nodes = 3, seed = 1, ["until"] = "5s",
  network = { latency = "2ms" },
}
at("0ms", function()
  set_offset(2, "+40ms"); set_offset(3, "-25ms")
  set_drift(2, 100); set_drift(3, -100)
end)
local function resync() sync(2); sync(3) end
at("1ms", resync)
every("1s", resync)
every("250ms", function() show_clocks(string.format("t=%dms", now())) end)
expect { skew = { max = "201us", from = "10ms" } }
