-- Drop the token the first time it travels: Suzuki-Kasami never regenerates
-- it, so the requests that wait for it starve and the liveness check says so.
scenario { name = "Suzuki-Kasami loses the token in transit", algorithm = "mutex.suzuki-kasami", nodes = 5, seed = 7,
           network = { latency = "1ms..3ms" } }
at("0ms", function() request(1); request(3) end)
at("20ms", function() request(4) end)
local dropped = false
on_send(function(m)
  if m.kind == "TOKEN" and not dropped then
    dropped = true
    print("the script drops the token on its way from " .. m.from .. " to " .. m.to)
    return "drop"
  end
end)
expect { safety = true, violations = { "liveness" } }
