-- limits { memory_mb = 0 } hands 0 to the interpreter's memory limit, which
-- means "no limit": the script then allocates past the default cap.
scenario { name = "no cap", algorithm = "election.ring", nodes = 3, seed = 1 }
limits { memory_mb = 0 }
local s = string.rep("x", 80 * 1024 * 1024)
