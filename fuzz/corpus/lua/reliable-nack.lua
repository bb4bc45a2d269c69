-- Two losses chosen by the script, one for each repair path of reliable
-- multicast. The first copy of 1.2 to node 3 is dropped: node 3 then receives
-- #3 with #2 missing, waits nack_delay for it, and sends NACK [#2]; node 1
-- sends #2 again at once. The first copy of 1.3 (the last message) to node 2
-- is dropped too: no later message shows node 2 the gap, so node 1's
-- retransmit timer, with no ACK after `timeout`, sends it again. Each member
-- also relays what it receives (R-multicast), so node 3 gets 1.2 and node 2
-- gets 1.3 from each other before the repairs; the links repair their gaps
-- all the same. DATA: 3 multicasts x (2 + 2 relayed) + 2 resent = 14.
scenario {
  name = "Reliable multicast: a NACK for a gap, a timeout for the last message",
  algorithm = "multicast.reliable", nodes = 3, seed = 1,
  network = { latency = "1ms..2ms" },
  params = { nack_delay = "2ms", timeout = "10ms" },
}
at("0ms", function() multicast(1, "one") end)
at("1ms", function() multicast(1, "two") end)
at("2ms", function() multicast(1, "three") end)
local dropped = {}
on_send(function(m)
  for _, rule in ipairs({ { to = 3, id = "1.2" }, { to = 2, id = "1.3" } }) do
    local key = rule.to .. rule.id
    if m.kind == "DATA" and m.to == rule.to and m.text:find("DATA " .. rule.id, 1, true) and not dropped[key] then
      dropped[key] = true
      print("the script drops " .. m.text .. " on its way to " .. m.to)
      return "drop"
    end
  end
end)
expect { messages_by_kind = { DATA = { exact = 14 }, NACK = { exact = 1 } } }
