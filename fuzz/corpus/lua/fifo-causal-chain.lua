-- The question-and-answer run under FIFO multicast: node 1 asks, node 2
-- answers once it has delivered the question. The link from 1 to 3 is slow,
-- and the script drops node 2's relay of the question to node 3 (once; the
-- reliable layer repairs it later), so the answer reaches node 3 first. FIFO
-- orders each sender's messages but knows nothing of what the sender had
-- delivered, so node 3 delivers node 2's answer before node 1's question.
-- The causal check, which FIFO multicast does not promise, fails as the
-- scenario expects.
scenario {
  name = "FIFO multicast delivers a reply before its question",
  algorithm = "multicast.fifo", nodes = 3, seed = 1,
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
expect { violations = { "causal" } }
