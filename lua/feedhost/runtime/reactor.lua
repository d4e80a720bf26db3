--- feedhost.runtime.reactor: the event loop as Lua sees it. Owns one C loop (host/core/loop.h,
-- through feedhost.sys.ffi), hands each event to the object that owns the connection or
-- listener, and runs timers. Every callback it makes runs protected on its own: one that raises
-- is logged and counted (`R.callback_errors`, and the handler's own `on_callback_error` when it
-- has one) and nothing else is disturbed: the other timers, the other events of the poll, the
-- connection.
--
--   local R = reactor.new{ log = logger }     -- nil, message when the loop cannot be made
--   local id = R:open("ws", {host=, port=, path=, tls=, ...}, handler)
--       handler:on_open(id, code, text), on_close(id, code, reason), on_error(id, code, status,
--       why), on_frames(id, batch), on_pong(id), on_oversize(id, bytes), on_dropped(id, n),
--       on_invalid(id, bytes, offset, sample) (a text message that is not UTF-8, dropped),
--       on_subscribed(id, granted, refused, text)
--   local lid, port = R:listen("ws-server", {host=, port=}, acceptor)
--       acceptor:on_accept(id, path) -> handler (nil: refused); acceptor:on_close(lid)
--   R:send(id, data, binary) / R:ping(id) / R:close(id, code, reason) / R:stats(id)
--   R:subscribe(id, topics, unsubscribe)   topics: feedhost.transport.encode_topics bytes
--   R:after(seconds, fn) / R:every(seconds, fn) -> timer; timer:cancel()
--   R:step(max_wait_ms)      one poll, its events, the timers due
--   R:fd()                   a descriptor for the application's own loop: readable when a
--                            step(0) has work (frames, timers, signals, posts from threads)
--   R:catch_signals(fn)      fn(signum) for SIGINT, SIGTERM, SIGHUP (per reactor)
--   R:signal_waiting()       a caught signal not taken yet
--   R:free()
local ffi = require("ffi")
local sys = require("feedhost.sys.ffi")
local clock = require("feedhost.sys.clock")
local watch = require("feedhost.sys.watch")

local api, C = sys.api, sys.C
local mono = clock.mono
local xpcall, tostring, ffi_string = xpcall, tostring, ffi.string

-- the error as raised (its message carries the file and line where it was raised)
local function traceback(e)
  return tostring(e)
end

local M = {}
M.now = mono

local EV = {
  [C.FH_EV_OPEN] = "open", [C.FH_EV_CLOSE] = "close", [C.FH_EV_ERROR] = "error",
  [C.FH_EV_FRAMES] = "frames", [C.FH_EV_PONG] = "pong", [C.FH_EV_OVERSIZE] = "oversize",
  [C.FH_EV_SIGNAL] = "signal", [C.FH_EV_DROPPED] = "dropped", [C.FH_EV_INVALID] = "invalid",
  [C.FH_EV_SUBSCRIBED] = "subscribed",
}
M.EVENTS = EV

local Reactor = {}
Reactor.__index = Reactor

--- A new reactor. opts: { log = feedhost.util.log logger (callback failures go there, rate
-- limited; default: warnings and errors to stderr), budget = seconds a step's events and timers
-- may take before the spec code running is interrupted (default 1; false: no watchdog) }
-- @return reactor, or nil, message
function M.new(opts)
  opts = opts or {}
  local err = ffi.new("char[256]")
  local lp = api.loop_new(err)
  if lp == nil then
    return nil, ffi_string(err)
  end
  lp = ffi.gc(lp, api.loop_free)
  return setmetatable({
    lp = lp,
    watch = opts.budget ~= false and watch.new(lp, opts.budget) or nil,
    log = opts.log or require("feedhost.util.log").new({ level = "warning" }),
    handlers = {},      -- id -> handler
    acceptors = {},     -- listener id -> acceptor
    batches = {},       -- id -> fh_batch *
    heap = {},          -- timers by due time
    seq = 0,
    callback_errors = 0,
    evp = ffi.new("const fh_event *[1]"),
    stats_buf = ffi.new("fh_conn_stats"),
    errbuf = err,
    port_buf = ffi.new("int[1]"),
  }, Reactor)
end

-- Reports a callback that raised: counted on the reactor (and the handler, if it counts its own).
function Reactor:callback_failed(what, err, handler)
  self.callback_errors = self.callback_errors + 1
  if watch.is_budget(err) then
    watch.taken()
  end
  if handler and handler.on_callback_error then
    local ok = pcall(handler.on_callback_error, handler, what, err)
    if ok then
      return
    end
  end
  self.log:event("error", "callback:" .. what, what .. " failed: " .. tostring(err))
end

-- Calls handler[method](handler, ...) protected; a missing method is a no-op.
local function call(self, h, method, ...)
  local f = h and h[method]
  if f then
    local ok, err = xpcall(f, traceback, h, ...)
    if not ok then
      self:callback_failed(method, err, h)
    end
  end
end

-- options table -> fh_kv array (the strings stay referenced by `keep` through the call)
local function kv_list(opts)
  local n, keep = 0, {}
  for k, v in pairs(opts) do
    n = n + 1
    keep[#keep + 1] = k
    keep[#keep + 1] = v == true and "1" or v == false and "0" or tostring(v)
  end
  local kv = ffi.new("fh_kv[?]", math.max(n, 1))
  for i = 0, n - 1 do
    kv[i].key = keep[2 * i + 1]
    kv[i].value = keep[2 * i + 2]
  end
  return kv, n, keep
end

--- Opens a client connection of transport `name`. @return id, or nil, message
function Reactor:open(name, opts, handler)
  local kv, n, keep = kv_list(opts)
  local id = api.loop_open(self.lp, name, kv, n, self.errbuf)
  local _ = keep
  if id < 0 then
    return nil, ffi_string(self.errbuf)
  end
  self.handlers[id] = handler
  return id
end

--- Listens with transport `name`. @return listener id, bound port; or nil, message
function Reactor:listen(name, opts, acceptor)
  local kv, n, keep = kv_list(opts)
  local id = api.loop_listen(self.lp, name, kv, n, self.port_buf, self.errbuf)
  local _ = keep
  if id < 0 then
    return nil, ffi_string(self.errbuf)
  end
  self.acceptors[id] = acceptor
  return id, self.port_buf[0]
end

local SEND_ERRORS = { [-1] = "not connected", [-2] = "queue full" }

--- @return true, or nil, "not connected" | "queue full"
function Reactor:send(id, data, binary)
  local rc = api.loop_send(self.lp, id, binary and C.FH_FRAME_BINARY or C.FH_FRAME_TEXT, data, #data)
  if rc == 0 then
    return true
  end
  return nil, SEND_ERRORS[rc] or "send failed"
end

--- A subscribe (or unsubscribe) request for transports with topics (MQTT, ZeroMQ).
-- @return true, or nil, "not connected" | "queue full"
function Reactor:subscribe(id, topics, unsubscribe)
  local rc = api.loop_send(self.lp, id, unsubscribe and C.FH_SEND_UNSUBSCRIBE or C.FH_SEND_SUBSCRIBE,
    topics, #topics)
  if rc == 0 then
    return true
  end
  return nil, SEND_ERRORS[rc] or "subscribe failed"
end

function Reactor:ping(id)
  local rc = api.loop_ping(self.lp, id)
  if rc == 0 then
    return true
  end
  return nil, SEND_ERRORS[rc] or "ping failed"
end

--- Closes a connection (after its queued messages) or stops a listener. @return boolean
function Reactor:close(id, code, reason)
  return api.loop_close(self.lp, id, code or 1000, reason or "") == 0
end

--- The C counters of a connection (frames_in, bytes_in, frames_out, bytes_out, oversize,
-- out_dropped, in_dropped, out_queued), or nil.
function Reactor:stats(id)
  local st = self.stats_buf
  if api.loop_stats(self.lp, id, st) ~= 0 then
    return nil
  end
  return { frames_in = tonumber(st.frames_in), bytes_in = tonumber(st.bytes_in),
    frames_out = tonumber(st.frames_out), bytes_out = tonumber(st.bytes_out),
    oversize = tonumber(st.oversize), invalid = tonumber(st.invalid),
    out_dropped = tonumber(st.out_dropped),
    in_dropped = tonumber(st.in_dropped), out_queued = tonumber(st.out_queued) }
end

-- ---- timers: a binary heap by due time (then creation order) ---------------------------------
local Timer = {}
Timer.__index = Timer

function Timer:cancel()
  self.dead = true
end

local function before(a, b)
  return a.at < b.at or (a.at == b.at and a.seq < b.seq)
end

local function heap_push(h, t)
  local i = #h + 1
  h[i] = t
  while i > 1 do
    local p = math.floor(i / 2)
    if not before(h[i], h[p]) then
      break
    end
    h[i], h[p] = h[p], h[i]
    i = p
  end
end

local function heap_pop(h)
  local top, n = h[1], #h
  h[1] = h[n]
  h[n] = nil
  n = n - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and before(h[l], h[m]) then
      m = l
    end
    if r <= n and before(h[r], h[m]) then
      m = r
    end
    if m == i then
      break
    end
    h[i], h[m] = h[m], h[i]
    i = m
  end
  return top
end

local function add_timer(self, delay, fn, every)
  self.seq = self.seq + 1
  local t = setmetatable({ at = mono() + delay, fn = fn, every = every, seq = self.seq }, Timer)
  heap_push(self.heap, t)
  if self.loop_fd and not self.stepping then   -- added from the application's loop
    self:arm()
  end
  return t
end

function Reactor:after(delay, fn)
  return add_timer(self, delay, fn, nil)
end

function Reactor:every(interval, fn)
  return add_timer(self, interval, fn, interval)
end

-- milliseconds until the first live timer is due (at most `cap`)
function Reactor:wait_ms(cap)
  local h = self.heap
  while h[1] and h[1].dead do
    heap_pop(h)
  end
  if not h[1] then
    return cap
  end
  local ms = math.ceil((h[1].at - mono()) * 1000)
  if ms < 0 then
    ms = 0
  end
  return ms < cap and ms or cap
end

-- Runs the timers due now, each protected; a repeating one is due again an interval later.
-- Timers added by callbacks wait for the next step.
function Reactor:run_timers()
  local h, now = self.heap, mono()
  local due = {}
  while h[1] and h[1].at <= now do
    due[#due + 1] = heap_pop(h)
  end
  for _, t in ipairs(due) do
    if not t.dead then
      if t.every then
        t.at = t.at + t.every
        if t.at < now then
          t.at = now + t.every
        end
        heap_push(h, t)
      else
        t.dead = true
      end
      local ok, err = xpcall(t.fn, traceback)
      if not ok then
        self:callback_failed("timer", err)
      end
    end
  end
end

-- ---- events -------------------------------------------------------------------------------------
function Reactor:dispatch(kind, id, code, aux, text)
  if kind == "frames" then
    local b = self.batches[id]
    if not b then
      b = api.loop_batch(self.lp, id)
      self.batches[id] = b
    end
    return call(self, self.handlers[id], "on_frames", id, b)
  elseif kind == "open" then
    if aux ~= 0 then   -- a listener (aux) accepted it
      local acc = self.acceptors[aux]
      local ok, h = true, nil
      if acc then
        ok, h = xpcall(acc.on_accept, traceback, acc, id, text)
        if not ok then
          self:callback_failed("on_accept", h, acc)
          h = nil
        end
      end
      self.handlers[id] = h
      if not h then
        api.loop_close(self.lp, id, 1011, "no handler")
      end
      return
    end
    return call(self, self.handlers[id], "on_open", id, code, text)
  elseif kind == "close" or kind == "error" then
    local h = self.handlers[id]
    self.handlers[id] = nil
    self.batches[id] = nil
    local acc = self.acceptors[id]
    if acc then
      self.acceptors[id] = nil
      return call(self, acc, "on_close", id)
    end
    if kind == "close" then
      return call(self, h, "on_close", id, code, text or "")
    end
    return call(self, h, "on_error", id, code, aux, text or "")
  elseif kind == "pong" then
    return call(self, self.handlers[id], "on_pong", id)
  elseif kind == "oversize" then
    return call(self, self.handlers[id], "on_oversize", id, code)
  elseif kind == "dropped" then
    return call(self, self.handlers[id], "on_dropped", id, code)
  elseif kind == "invalid" then
    return call(self, self.handlers[id], "on_invalid", id, code, aux, text)
  elseif kind == "subscribed" then
    return call(self, self.handlers[id], "on_subscribed", id, code, aux, text)
  elseif kind == "signal" then
    local f = self.on_signal
    if f then
      local ok, err = xpcall(f, traceback, code)
      if not ok then
        self:callback_failed("on_signal", err)
      end
    end
  end
end

--- One poll (waiting at most max_wait_ms, less when a timer is due), its events, then the
-- timers. @return the number of events
function Reactor:step(max_wait_ms)
  local evp = self.evp
  self.stepping = true
  local n = api.loop_poll(self.lp, self:wait_ms(max_wait_ms or 1000), evp)
  local w = self.watch
  watch.enter(w)
  -- copied out first: a handler that opens, sends or closes may queue events, and the C array
  -- they go to can move
  local list, ev = {}, evp[0]
  for i = 0, n - 1 do
    local e = ev[i]
    list[i + 1] = { EV[e.kind], e.id, e.code, e.aux, e.text ~= nil and ffi_string(e.text) or nil }
  end
  for i = 1, n do
    local e = list[i]
    self:dispatch(e[1], e[2], e[3], e[4], e[5])
  end
  self:run_timers()
  watch.leave(w)
  self.stepping = false
  self:arm()
  return n
end

--- A file descriptor for an application's own event loop (luv, cqueues, epoll, ...): it becomes
-- readable when the reactor has work (frames, a finished connect, a due timer, a signal, a
-- message another thread posted); the application then calls step(0). Made on the first call.
-- @return fd, or nil, message
function Reactor:fd()
  if not self.loop_fd then
    local fd = api.loop_fd(self.lp, self.errbuf)
    if fd < 0 then
      return nil, ffi_string(self.errbuf)
    end
    self.loop_fd = fd
  end
  return self.loop_fd
end

--- With fd() in use: its descriptor becomes readable when the first timer is due (or sooner,
-- when the loop has work). step() calls it; so does whoever adds work outside a step.
function Reactor:arm()
  if self.loop_fd then
    api.loop_arm(self.lp, self:wait_ms(1000))
  end
end

--- Output waits for room in descriptor `fd` (a pipe or socket that took part of it): the next
-- step's wait also ends when fd can take bytes again or its reader went away (once; ask again
-- after the next write if output still waits). @return true, or false (fd cannot be polled)
function Reactor:wait_writable(fd)
  return api.loop_wait_writable(self.lp, fd) == 0
end

--- SIGINT, SIGTERM and SIGHUP become calls of fn(signum) on this reactor (every reactor that
-- asks sees every signal). @return true, or nil, message
function Reactor:catch_signals(fn)
  self.on_signal = fn
  if api.loop_signals(self.lp, 1) ~= 0 then
    return nil, "too many event loops catch signals"
  end
  return true
end

--- Whether a signal this reactor catches is waiting to be taken (by the next step): a caller
-- blocked on something else (a slow stdout) returns to the loop for it.
function Reactor:signal_waiting()
  return self.lp ~= nil and api.loop_signal_pending(self.lp, nil) ~= 0
end

--- Frees the loop: every connection and listener closes at once.
function Reactor:free()
  if self.watch then
    api.watch_free(ffi.gc(self.watch, nil))
    self.watch = nil
  end
  if self.lp then
    api.loop_free(ffi.gc(self.lp, nil))
    self.lp = nil
  end
end

return M
