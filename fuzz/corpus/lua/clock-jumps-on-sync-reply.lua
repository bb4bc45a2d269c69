-- A clock that jumps while it synchronises: when the first Cristian REPLY
-- reaches node 2, the hook makes node 2's clock jump to 2s ahead of true
-- time. The jump lands just after node 2 has set its clock from the reply,
-- so its sync was right (error 0, within its ±2ms) and is undone at once:
-- the "After:" table shows node 2 two seconds ahead. Its next sync brings
-- it back, and the clocks agree at the end.
scenario {
  name = "A clock jumps 2s as the sync reply arrives",
  algorithm = "clock.cristian", nodes = 3, seed = 1,
  network = { latency = "2ms" },
}
local jumped = false
on_deliver(function(m)
  if m.kind == "REPLY" and m.to == 2 and not jumped then
    jumped = true
    set_offset(2, "+2s")
  end
end)
at("0ms", function() set_offset(2, "+300ms"); set_offset(3, "-200ms"); show_clocks("Before:") end)
at("1ms", function() sync(2); sync(3) end)
at("20ms", function() show_clocks("After:") end)
at("30ms", function() sync(2) end)
at("50ms", function() show_clocks("After a second sync:") end)
expect { skew = { max = "1us", from = "50ms" } }
