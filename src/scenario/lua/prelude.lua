-- The sandbox's Lua side, run once in each fresh interpreter before the
-- script (see sandbox.rs). It is loaded without line information, so an
-- error raised here is located at the script's line that called it.
--
-- 1. What would run outside the instruction budget:
--    * `__gc` finalizers run with hooks off: setmetatable refuses a
--      metatable with `__gc` (an object is only marked for finalization when
--      it gets its metatable, so adding `__gc` later does nothing);
--    * an xpcall message handler runs with hooks off for an error raised by
--      the hook: once the budget is spent, the handler is skipped;
--    * a coroutine killed by the hook keeps its hooks off, so closing its
--      to-be-closed variables (coroutine.close, coroutine.wrap) would run
--      them unhooked: such a coroutine is not closed;
--    * table.insert, table.remove and table.move loop in C over a length a
--      `__len` metamethod may make as large as math.maxinteger: here they
--      are Lua loops, counted like any other.
--    * string.find, match, gmatch, gsub and rep are Rust functions (see
--      strlib.rs) that answer `true, results...` or `false, error, level`:
--      wrapped here so that their errors are Lua strings at the caller.
-- 2. What would make two runs differ:
--    * tostring gives addresses: here tables, functions and threads get
--      stable numbers instead (`table: #3`), in the order the script first
--      shows or orders them;
--    * pairs and next follow the hash order of keys, which for strings
--      depends on a per-process random seed: here they go through the keys
--      in a fixed order (numbers, strings, booleans, then other values by
--      their stable number);
--    * math.randomseed() with no argument seeds from the clock: here it
--      seeds from the scenario's seed;
--    * string.format's %p prints an address: refused; %s of a table uses the
--      stable tostring.
local H = ...
local type, select, error, rawget, rawequal = type, select, error, rawget, rawequal
local rawnext, rawtostring, rawsetmetatable = next, tostring, setmetatable
local rawxpcall = xpcall
local sort, tointeger = table.sort, math.tointeger
local co_create, co_resume, co_close, co_status = coroutine.create, coroutine.resume, coroutine.close, coroutine.status
local rawformat, rawrandomseed = string.format, math.randomseed
local metafield, tripped, conversions, seed = H.metafield, H.tripped, H.conversions, H.seed
local unpack, maxinteger, sub = table.unpack, math.maxinteger, string.sub

-- The bounded string functions, with Lua's errors.
local function answer(ok, ...)
  if ok then
    return ...
  end
  local e, level = ...
  error(e, level)
end
local rfind, rmatch, rgmatch, rgsub, rrep = string.find, string.match, string.gmatch, string.gsub, string.rep
string.find = function(...) return answer(rfind(...)) end
string.match = function(...) return answer(rmatch(...)) end
string.gsub = function(...) return answer(rgsub(...)) end
string.rep = function(...) return answer(rrep(...)) end
string.gmatch = function(...)
  local it = answer(rgmatch(...))
  return function() return answer(it()) end
end

-- Stable numbers for tables, functions, threads and userdata.
local ids, count = rawsetmetatable({}, { __mode = "k" }), 0
local function id(v)
  local n = ids[v]
  if n == nil then
    count = count + 1
    n = count
    ids[v] = n
  end
  return n
end

tostring = function(...)
  if select("#", ...) == 0 then
    error("bad argument #1 to 'tostring' (value expected)", 2)
  end
  local v = ...
  local t = type(v)
  if t == "table" then
    if metafield(v, "__tostring") ~= nil then
      return rawtostring(v)
    end
    local name = metafield(v, "__name")
    return (type(name) == "string" and name or "table") .. ": #" .. id(v)
  elseif t == "function" or t == "thread" then
    return t .. ": #" .. id(v)
  end
  return rawtostring(v)
end
local tostring = tostring

-- A fixed order of keys.
local rank = { number = 1, string = 2, boolean = 3, table = 4, ["function"] = 5, thread = 6, userdata = 7 }
local function before(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    return rank[ta] < rank[tb]
  elseif ta == "number" or ta == "string" then
    return a < b
  elseif ta == "boolean" then
    return b and not a
  end
  return id(a) < id(b)
end

local function sorted_keys(t)
  local keys, n = {}, 0
  for k in rawnext, t do
    n = n + 1
    keys[n] = k
  end
  sort(keys, before)
  return keys, n
end

local function check_table(t, fname)
  if type(t) ~= "table" then
    error("bad argument #1 to '" .. fname .. "' (table expected, got " .. (t == nil and "nil" or type(t)) .. ")", 3)
  end
end

pairs = function(t)
  local mm = metafield(t, "__pairs")
  if mm ~= nil then
    local f, s, c = mm(t)
    return f, s, c
  end
  check_table(t, "pairs")
  local keys, i = sorted_keys(t), 0
  return function()
    while true do
      i = i + 1
      local k = keys[i]
      if k == nil then
        return nil
      end
      local v = rawget(t, k)
      if v ~= nil then
        return k, v
      end
    end
  end, t, nil
end

-- next(t, k): the key after k in the fixed order. The order of a table is
-- computed when a traversal starts (next(t, nil) only looks for the first
-- key) and kept while it goes on.
local orders = rawsetmetatable({}, { __mode = "k" })
next = function(t, k)
  check_table(t, "next")
  if k == nil then
    orders[t] = nil
    local first = nil
    for key in rawnext, t do
      if first == nil or before(key, first) then
        first = key
      end
    end
    if first == nil then
      return nil
    end
    return first, rawget(t, first)
  end
  local o = orders[t]
  if o == nil or o.at[k] == nil then
    local keys, n = sorted_keys(t)
    local at = {}
    for i = 1, n do
      at[keys[i]] = i
    end
    o = { keys = keys, at = at }
    orders[t] = o
  end
  local i = o.at[k]
  if i == nil then
    error("invalid key to 'next'", 2)
  end
  local keys = o.keys
  while true do
    i = i + 1
    local key = keys[i]
    if key == nil then
      return nil
    end
    local v = rawget(t, key)
    if v ~= nil then
      return key, v
    end
  end
end

setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc finalizers are not available in a scenario script (they would run outside its instruction budget)", 2)
  end
  return rawsetmetatable(t, mt)
end

xpcall = function(f, handler, ...)
  if type(handler) ~= "function" then
    error("bad argument #2 to 'xpcall' (function expected, got " .. type(handler) .. ")", 2)
  end
  return rawxpcall(f, function(e)
    if tripped() then
      return e
    end
    return handler(e)
  end, ...)
end

-- Coroutines that died with an error, and that error.
local deaths = rawsetmetatable({}, { __mode = "k" })
local function safe_to_close(co)
  return not tripped() and deaths[co] ~= "not enough memory"
end

local function resumed(co, ok, ...)
  if not ok then
    deaths[co] = ...
  end
  return ok, ...
end
coroutine.resume = function(co, ...)
  return resumed(co, co_resume(co, ...))
end

coroutine.close = function(co)
  if co_status(co) == "dead" and deaths[co] ~= nil and not safe_to_close(co) then
    return false, deaths[co]
  end
  return co_close(co)
end

local function wrapped(co, ok, ...)
  if ok then
    return ...
  end
  local e = ...
  deaths[co] = e
  if co_status(co) == "dead" and safe_to_close(co) then
    local closed, e2 = co_close(co)
    if not closed then
      e = e2
    end
  end
  error(e, type(e) == "string" and 2 or 0)
end
coroutine.wrap = function(f)
  local co = co_create(f)
  return function(...)
    return wrapped(co, co_resume(co, ...))
  end
end

local function integer_arg(v, n, fname)
  local i = tointeger(v)
  if i == nil then
    if type(v) == "number" then
      error("bad argument #" .. n .. " to '" .. fname .. "' (number has no integer representation)", 3)
    end
    error("bad argument #" .. n .. " to '" .. fname .. "' (number expected, got " .. (v == nil and "no value" or type(v)) .. ")", 3)
  end
  return i
end

table.insert = function(t, ...)
  check_table(t, "insert")
  local n = select("#", ...)
  local e = #t + 1
  if n == 1 then
    t[e] = ...
    return
  elseif n ~= 2 then
    error("wrong number of arguments to 'insert'", 2)
  end
  local pos, v = ...
  pos = integer_arg(pos, 2, "insert")
  if pos < 1 or pos > e then
    error("bad argument #2 to 'insert' (position out of bounds)", 2)
  end
  for i = e, pos + 1, -1 do
    t[i] = t[i - 1]
  end
  t[pos] = v
end

table.remove = function(t, pos)
  check_table(t, "remove")
  local size = #t
  if pos == nil then
    pos = size
  else
    pos = integer_arg(pos, 2, "remove")
  end
  if pos ~= size and (pos < 1 or pos > size + 1) then
    error("bad argument #2 to 'remove' (position out of bounds)", 2)
  end
  local result = t[pos]
  while pos < size do
    t[pos] = t[pos + 1]
    pos = pos + 1
  end
  t[pos] = nil
  return result
end

table.move = function(a1, f, e, t, a2)
  f = integer_arg(f, 2, "move")
  e = integer_arg(e, 3, "move")
  t = integer_arg(t, 4, "move")
  if a2 == nil then
    a2 = a1
  end
  check_table(a1, "move")
  if type(a2) ~= "table" then
    error("bad argument #5 to 'move' (table expected, got " .. type(a2) .. ")", 2)
  end
  if e >= f then
    if not (f > 0 or e < maxinteger + f) then
      error("bad argument #3 to 'move' (too many elements to move)", 2)
    end
    local n = e - f + 1
    if t > maxinteger - n + 1 then
      error("bad argument #4 to 'move' (destination wrap around)", 2)
    end
    if t > e or t > f or (not rawequal(a1, a2) and a1 ~= a2) then
      for i = 0, n - 1 do
        a2[t + i] = a1[f + i]
      end
    else
      for i = n - 1, 0, -1 do
        a2[t + i] = a1[f + i]
      end
    end
  end
  return a2
end

string.format = function(fmt, ...)
  local convs = conversions(fmt)
  if convs ~= "" then
    local args = { n = select("#", ...), ... }
    for i = 1, #convs do
      local c = sub(convs, i, i)
      if c == "p" then
        error("string.format: %p prints an address, which differs from run to run: not available in a scenario", 2)
      elseif c == "s" then
        local v = args[i]
        local t = type(v)
        if t == "table" or t == "function" or t == "thread" then
          args[i] = tostring(v)
        end
      end
    end
    return rawformat(fmt, unpack(args, 1, args.n))
  end
  return rawformat(fmt, ...)
end

math.randomseed = function(...)
  if select("#", ...) == 0 then
    return rawrandomseed(seed)
  end
  return rawrandomseed(...)
end
rawrandomseed(seed)
