--- feedhost.runtime.reactor: the event loop as Lua sees it. Owns one C loop (feedhost.core.loop), hands
-- each event to the object that owns the connection (or listener), and runs timers.
--
--   local R = reactor.new()
--   local id = R:connect(opts, handler)      -- handler:on_open(id), on_close(id, code, reason),
--                                            -- on_error(id, status, why), on_frames(id, batch),
--                                            -- on_pong(id), on_oversize(id, bytes)
--   local lid, port = R:listen(host, port, acceptor)   -- acceptor:on_accept(id) -> handler
-- Handlers are called as methods: handler:on_frames(id, batch).
--   R:after(seconds, fn) / R:every(seconds, fn) -> timer; timer:cancel()
--   R:step(max_wait_ms)                      -- one poll and its dispatch
--   R.on_signal = function(signum) end
local core = require("feedhost.core")
local cffi = require("feedhost.sys.ffi")
local ffi = require("ffi")

local M = {}

local Reactor = {}
Reactor.__index = Reactor

local function now_s()
  return tonumber(cffi.api.clock_monotonic_ns()) / 1e9
end
M.now = now_s

function M.new()
  local loop, err = require("feedhost.core.loop").new()
  if not loop then
    return nil, err
  end
  return setmetatable({
    loop = loop,
    handlers = {},      -- id -> handler
    acceptors = {},     -- listener id -> acceptor
    batches = {},       -- id -> fh_batch * (cast once)
    timers = {},        -- list of {at, fn, every, dead}
    on_signal = nil,
    version = core.version,
  }, Reactor)
end

function Reactor:connect(opts, handler)
  local id, err = self.loop:connect(opts)
  if not id then
    return nil, err
  end
  self.handlers[id] = handler
  return id
end

function Reactor:listen(host, port, acceptor)
  local lid, bound = self.loop:listen(host or "127.0.0.1", port or 0)
  if not lid then
    return nil, bound
  end
  self.acceptors[lid] = acceptor
  return lid, bound
end

function Reactor:send(id, data, binary)
  return self.loop:send(id, data, binary)
end

function Reactor:ping(id)
  return self.loop:ping(id)
end

function Reactor:close(id, code, reason)
  return self.loop:close(id, code or 1000, reason or "")
end

function Reactor:stats(id)
  return self.loop:stats(id)
end

local Timer = {}
Timer.__index = Timer
function Timer:cancel()
  self.dead = true
end

local function add_timer(self, delay, fn, every)
  local t = setmetatable({ at = now_s() + delay, fn = fn, every = every }, Timer)
  self.timers[#self.timers + 1] = t
  return t
end

function Reactor:after(delay, fn)
  return add_timer(self, delay, fn, nil)
end

function Reactor:every(interval, fn)
  return add_timer(self, interval, fn, interval)
end

-- milliseconds until the first timer is due (capped at `cap`)
function Reactor:wait_ms(cap)
  local now, first = now_s(), nil
  for _, t in ipairs(self.timers) do
    if not t.dead and (not first or t.at < first) then
      first = t.at
    end
  end
  if not first then
    return cap
  end
  local ms = math.ceil((first - now) * 1000)
  if ms < 0 then
    ms = 0
  end
  return ms < cap and ms or cap
end

function Reactor:run_timers()
  local now = now_s()
  local list, keep = self.timers, {}
  self.timers = keep
  for _, t in ipairs(list) do
    if not t.dead and t.at <= now then
      if t.every then
        t.at = t.at + t.every
        if t.at < now then
          t.at = now + t.every
        end
        keep[#keep + 1] = t
      else
        t.dead = true
      end
      t.fn()
    elseif not t.dead then
      keep[#keep + 1] = t
    end
  end
  -- timers added by the callbacks went to `keep` (self.timers) already
end

local function call(h, method, ...)
  local f = h and h[method]
  if f then
    return f(h, ...)
  end
end

function Reactor:dispatch(ev)
  local kind, id = ev.type, ev.id
  if kind == "frames" then
    local h = self.handlers[id]
    local b = self.batches[id]
    if not b then
      b = ffi.cast("fh_batch *", self.loop:batch(id))
      self.batches[id] = b
    end
    call(h, "on_frames", id, b)
  elseif kind == "open" then
    if ev.code ~= 0 then   -- accepted by listener ev.code
      local acc = self.acceptors[ev.code]
      local h = acc and acc:on_accept(id)
      self.handlers[id] = h
      if not h then
        self.loop:close(id, 1011, "no handler")
      end
    else
      call(self.handlers[id], "on_open", id)
    end
  elseif kind == "close" or kind == "error" then
    local h = self.handlers[id]
    self.handlers[id] = nil
    self.batches[id] = nil
    if kind == "close" then
      call(h, "on_close", id, ev.code, ev.text or "")
    else
      call(h, "on_error", id, ev.code, ev.text or "")
    end
  elseif kind == "pong" then
    call(self.handlers[id], "on_pong", id)
  elseif kind == "oversize" then
    call(self.handlers[id], "on_oversize", id, ev.code)
  elseif kind == "signal" then
    if self.on_signal then
      self.on_signal(ev.code)
    end
  end
end

--- One poll (waiting at most max_wait_ms, less if a timer is due), then its events and timers.
function Reactor:step(max_wait_ms)
  local events = self.loop:poll(self:wait_ms(max_wait_ms or 1000))
  for i = 1, #events do
    self:dispatch(events[i])
  end
  self:run_timers()
  return #events
end

function Reactor:catch_signals()
  self.loop:catch_signals()
end

function Reactor:free()
  if self.loop then
    self.loop:free()
    self.loop = nil
  end
end

return M
