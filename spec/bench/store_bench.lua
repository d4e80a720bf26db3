-- Benchmark of feedhost.data.store: put throughput and the Lua heap it keeps.
--
--   luajit spec/bench/store_bench.lua [TICKS] [ASSETS] [MINUTES]     (from the worktree root)
--
-- Three runs, each on a fresh store with the defaults (1-minute bars, 1440 bars per ring):
--   ticks/day    TICKS trades over ASSETS assets, spread evenly over MINUTES minutes of time
--   ticks/dense  the same trades within 10 minutes (many ticks per bar: the common path)
--   bars/day     ASSETS x MINUTES one-minute exchange bar records
-- Records are built beforehand in chunks (as the pipeline builds them: an int64 timestamp and a
-- `data` table each, one shared Asset table per asset), so only store:put is timed. The heap
-- figure is collectgarbage("count") after a full collection, minus the same before the store
-- was made: the store's own structures and the records it still holds.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
local storemod = require("feedhost.data.store")

local TICKS = tonumber(arg[1]) or 5000000
local ASSETS = tonumber(arg[2]) or 5000
local MINUTES = tonumber(arg[3]) or 1440
local CHUNK = 100000
local T0 = 1700000040LL * 1000000000LL -- a minute boundary

local assets = {}
for i = 1, ASSETS do
  assets[i] = { symbol = string.format("SYM%05d", i) }
end

local function heap()
  collectgarbage("collect")
  collectgarbage("collect")
  return collectgarbage("count") * 1024
end

local function mb(bytes)
  return string.format("%.1f MB", bytes / 1048576)
end

-- Puts `total` records made by make(i) (i = 0-based), chunk by chunk; returns the seconds spent
-- in put and the bytes put allocated (the collector is stopped while it runs, to count them).
local function run(store, total, make)
  local spent, alloc, chunk = 0, 0, {}
  local i = 0
  while i < total do
    local n = math.min(CHUNK, total - i)
    for k = 1, n do
      chunk[k] = make(i + k - 1)
    end
    collectgarbage("stop")
    local c, t = collectgarbage("count"), os.clock()
    for k = 1, n do
      store:put(chunk[k])
    end
    spent = spent + os.clock() - t
    alloc = alloc + (collectgarbage("count") - c) * 1024
    collectgarbage("restart")
    i = i + n
  end
  return spent, alloc
end

local function report(name, total, secs, alloc, store, base)
  local h = heap() - base
  local st = store:stats()
  print(string.format("%-11s %8d records %5.2f s %10.0f records/s  put allocates %5.1f B/record"
    .. "  heap after %s: %d bars (estimate %s)", name, total, secs, total / secs, alloc / total,
    mb(h), st.bars, mb(st.memory)))
end

local function tick_run(name, span_minutes)
  local step = (span_minutes * 60 * 1000000000LL) / TICKS -- ns between ticks, across assets
  local base = heap()
  local store = storemod.new()
  local secs, alloc = run(store, TICKS, function(i)
    return { channel = "data", connection = "market_data", asset = assets[i % ASSETS + 1],
      timestamp = T0 + step * i, data = { price = 100 + (i % 97) * 0.01, volume = 1 + i % 5 } }
  end)
  report(name, TICKS, secs, alloc, store, base)
end

tick_run("ticks/day", MINUTES)
tick_run("ticks/dense", 10)

do
  local total = ASSETS * MINUTES
  local base = heap()
  local store = storemod.new()
  local secs, alloc = run(store, total, function(i)
    local minute, a = math.floor(i / ASSETS), i % ASSETS + 1
    return { channel = "data", connection = "market_data", asset = assets[a],
      timestamp = T0 + minute * 60000000000LL,
      data = { open = 100, high = 101, low = 99, close = 100.5, volume = 1000 } }
  end)
  report("bars/day", total, secs, alloc, store, base)
end
