-- A question and its answer: node 1 asks, node 2 answers once it has
-- delivered the question. The link from 1 to 3 is slow, and the script drops
-- node 2's relay of the question to node 3 (once; the reliable layer
-- repairs it later), so the answer reaches node 3 first. Its vector
-- timestamp V=[1,1,0] says it depends on 1.1, which node 3 has not
-- delivered: node 3 holds the answer back until the question arrives.
-- fifo-causal-chain.lua is the same run under FIFO multicast.
scenario {
  name = "Causal multicast holds back a reply until its question arrives",
  algorithm = "multicast.causal", nodes = 3, seed = 1,
  network = { latency = "1ms", links = { { from = 1, to = 3, latency = "20ms" } } },
}
at("0ms", function() multicast(1, "question") end)
at("5ms", function() multicast(2, "answer") end)
local dropped = false
on_send(function(m)
  if not dropped and m.kind == "DATA" and m.from == 2 and m.to == 3 and m.text:find("DATA 1.1", 1, true) then
    dropped = true
    print("the script drops node 2's relay " .. m.text .. " on its way to 3")
    return "drop"
  end
end)
expect { messages_by_kind = { DATA = { exact = 9 }, NACK = { exact = 1 } } }
