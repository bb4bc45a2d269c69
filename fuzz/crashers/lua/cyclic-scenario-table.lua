-- A table that contains itself, given to scenario { … }: the conversion of
-- the declaration to JSON recurses without end and overflows the stack
-- (the process aborts with SIGABRT instead of reporting a located error).
local t = { name = "cycle", algorithm = "election.ring", nodes = 3 }
t.self = t
scenario(t)
