--- feedhost.sys.clock: the one clock (host/core/loop.c fh_clock_ns, through the FFI table).
--   clock.now_ns()  epoch nanoseconds (int64 cdata): timestamps
--   clock.mono()    monotonic seconds (a number): deadlines, intervals, rates
local sys = require("feedhost.sys.ffi")

local api, C = sys.api, sys.C
local REALTIME, MONOTONIC = C.FH_CLOCK_REALTIME, C.FH_CLOCK_MONOTONIC
local tonumber = tonumber

local M = {}

function M.now_ns()
  return api.clock_ns(REALTIME)
end

function M.mono()
  return tonumber(api.clock_ns(MONOTONIC)) / 1e9
end

return M
