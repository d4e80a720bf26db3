--- feedhost.sys.watch: time budgets for spec code (host/lua/watchdog.h).
--
-- A region of work that may run spec code (a reactor step, a replay batch) is entered with a
-- deadline; spec code entered inside it marks where it is (`M.at(label id)`). Past the deadline
-- the watchdog interrupts: the running Lua code raises "feedhost: budget: ..." until the error is
-- taken (`M.taken()`, which the pipeline and the reactor call when they catch it: the hook is
-- removed and the region gets a new budget). Still stuck a second later (a loop LuaJIT compiled
-- runs no hooks), the watchdog ends the process with a message naming the last label entered.
local ffi = require("ffi")
local sys = require("feedhost.sys.ffi")
local clock = require("feedhost.sys.clock")

local api = sys.api
local MONOTONIC = sys.C.FH_CLOCK_MONOTONIC

local M = {}

M.DEFAULT_BUDGET = 1.0   -- seconds per region

local where = api.watch_where()
M.where = where
local current = nil

--- A watch (garbage-collected) for this thread, tied to reactor loop `lp` (or nil): the
-- signals that loop catches must be taken in time too. budget: seconds. @return watch or nil
function M.new(lp, budget)
  local w = api.watch_new(lp)
  if w == nil then
    return nil
  end
  w.budget = (budget or M.DEFAULT_BUDGET) * 1e9
  return ffi.gc(w, api.watch_free)
end

--- The id of a label ("market_data converters.quote[1].fields.bid").
function M.label(text)
  return api.watch_label(text)
end

--- Marks that spec code of label `id` runs now. @return true (for use inside expressions)
function M.at(id)
  where[0] = id
  return true
end

function M.enter(w)
  if w then
    w.deadline = api.clock_ns(MONOTONIC) + w.budget
    current = w
  end
end

function M.leave(w)
  if w then
    w.deadline = 0
    if w.fired ~= 0 then
      debug.sethook()
      w.fired = 0
    end
    current = nil
  end
end

--- Whether `err` is the watchdog's interrupt.
function M.is_budget(err)
  return type(err) == "string" and err:find("feedhost: budget:", 1, true) ~= nil
end

--- The interrupt was caught and handled: no more raising, and a fresh budget for the rest.
function M.taken()
  local w = current
  if w and w.fired ~= 0 then
    debug.sethook()
    w.fired = 0
    w.deadline = api.clock_ns(MONOTONIC) + w.budget
  end
end

M.now = clock.mono
return M
