-- A causal chain built by the script: whenever a member delivers a message it
-- has not answered, and it is the next member round the group, it multicasts
-- a reply. Node 1 starts; node 2 replies to 1.1 the moment it delivers it,
-- node 3 replies to 2.1, and so on for three hops. Links into node 3 from
-- node 1 and into node 1 from node 2 are slow, so replies overtake the
-- messages they answer. Each member also relays what it receives
-- (R-multicast), which would carry the answered message round the slow
-- link ahead of the reply; the script drops the first copy of every relay,
-- so relays only repair later (by NACK or timeout). Causal multicast holds
-- each reply back until what it answers has been delivered. Every member
-- delivers 1.1, 2.1, 3.1, 1.2.
scenario {
  name = "Causal multicast: a chain of replies, each sent on delivery",
  algorithm = "multicast.causal", nodes = 3, seed = 1,
  network = {
    latency = "1ms",
    links = { { from = 1, to = 3, latency = "15ms" }, { from = 2, to = 1, latency = "20ms" } },
  },
}
at("0ms", function() multicast(1, "question") end)
local replies = 0
on_observe("Delivered", function(o)
  local next_node = o.value.sender % 3 + 1
  if o.node == next_node and o.node ~= o.value.sender and replies < 3 then
    replies = replies + 1
    print("node " .. o.node .. " replies to " .. o.value.sender .. "." .. o.value.seq)
    multicast(o.node, "reply" .. replies)
  end
end)
local relayed = {}
on_send(function(m)
  local sender = m.kind == "DATA" and tonumber(m.text:match("^DATA (%d+)%."))
  local key = m.from .. ">" .. m.to .. " " .. m.text
  if sender and sender ~= m.from and not relayed[key] then
    relayed[key] = true
    return "drop"
  end
end)
expect { deliveries = { exact = 12 } }
