--- feedhost.runtime.connection: the lifecycle of one connection, whatever its transport.
--
-- connecting -> authenticating (when the spec waits for an auth ack) -> subscribing -> live; on
-- any loss: backoff (capped exponential with jitter, reset only after `stable_after` of live
-- service), then again: auth again, every current asset resubscribed, deduplicated and paced by
-- `limits.subscribe_rate`. Liveness: the transport's own (WebSocket pings, ...), the spec's
-- heartbeat message, and `heartbeat.idle_timeout`, which counts data frames only.
-- The transport (feedhost.transport.*) does the protocol; this module knows none of it.
local clock = require("feedhost.sys.clock")
local json = require("feedhost.util.json")
local sys = require("feedhost.sys.ffi")
local watch = require("feedhost.sys.watch")
local symbol_of = require("feedhost.data.asset").symbol_of
local ffi = require("ffi")

local now = clock.mono
local BINARY = sys.C.FH_FRAME_BINARY

local M = {}

local Connection = {}

--- The delay (seconds) before retry `attempt` (0 first) under reconnect settings `rc`: capped
-- exponential, times 1 +- rc.jitter drawn from `random` (numbers in [0, 1): the runtime's
-- rt.random, seeded per process so that hosts do not retry in lockstep, and by tests).
function M.backoff(rc, attempt, random)
  local delay = math.min(rc.max, rc.initial * rc.factor ^ attempt)
  return math.max(0, delay * (1 + rc.jitter * (2 * random() - 1)))
end
Connection.__index = Connection

-- "1.5s", for log lines
local function secs(x)
  return string.format("%.2fs", x)
end

--- A connection of definition `def` (runtime), shard `index` (1: the first).
function M.new(rt, def, index)
  local label = index > 1 and (def.name .. "[" .. index .. "]") or def.name
  local self = setmetatable({
    rt = rt, def = def, index = index, R = rt.R, pipeline = def.pipeline, label = label,
    log = index > 1 and rt.log:child(label) or def.log,
    state = "idle", assets = {}, subscribed = {}, attempt = 0,
    frames = 0, records = 0, errors = 0, app_errors = 0, reconnects = 0, connects = 0,
    dropped = 0, bytes = 0, first_frame_at = nil, last_frame_at = nil, last_data_at = nil,
    auth = { waiting = false },   -- the pipeline's auth check reads and writes it
    spec_state = {},              -- the spec's `state` table: hooks write, routers read
  }, Connection)
  self.stat_mark = { at = now(), frames = 0, records = 0 }
  return self
end

-- A line of the definition's log that names this shard when there are several.
function Connection:named(msg)
  return self.index > 1 and (self.label .. ": " .. msg) or msg
end

function Connection:ctx(extra)
  local c = self.def.c.ctx
  local ctx = { broker = c.broker, credentials = c.credentials, connection_name = self.def.name,
    state = self.spec_state }
  for k, v in pairs(extra or {}) do
    ctx[k] = v
  end
  return ctx
end

-- Runs a lifecycle hook; an error in it (the watchdog's interrupt too) is counted and logged,
-- never raised.
function Connection:hook(name, extra)
  local f = self.def.hooks[name]
  if not f then
    return
  end
  watch.at(self.def.hook_labels[name])
  local ok, err = pcall(f, self:ctx(extra))
  if not ok and watch.is_budget(err) then
    watch.taken()
  end
  if not ok then
    self.errors = self.errors + 1
    self.log:event("warning", "hook:" .. name, "hooks." .. name .. " failed: " .. tostring(err))
  end
end

-- A callback of this connection that raised (the reactor caught it): counted, logged.
function Connection:on_callback_error(what, err)
  self.errors = self.errors + 1
  self.log:event("error", "callback:" .. what, what .. " failed: " .. tostring(err))
end

function Connection:set_assets(list)
  local old = self.assets
  self.assets = list
  if self.state == "live" or self.state == "subscribing" then
    -- subscribe what is new, unsubscribe what went away
    local keep, added, removed = {}, {}, {}
    for _, a in ipairs(list) do
      keep[symbol_of(a)] = true
      if not self.subscribed[symbol_of(a)] then
        added[#added + 1] = a
      end
    end
    for _, a in ipairs(old) do
      if not keep[symbol_of(a)] then
        removed[#removed + 1] = a
      end
    end
    if #removed > 0 then
      self:queue(self:render("unsubscribe", removed) or {}, "unsubscribe")
      for _, a in ipairs(removed) do
        self.subscribed[symbol_of(a)] = nil
      end
    end
    if #added > 0 then
      self:queue(self:render("subscribe", added) or {}, "subscribe")
    end
  elseif self.state == "idle" and self.rt.started and not self.rt.stopping then
    self:connect()
  end
end

function Connection:connect()
  if self.rt.stopping then
    self.state = "closed"
    return
  end
  local def = self.def
  local ok, url = pcall(def.c.url, self.rt.urls[def.name])
  if not ok then
    self.log:error("cannot build the URL: %s", tostring(url))
    return self:lost(0, "bad url", true)
  end
  local hok, headers = pcall(def.c.headers)
  if not hok then
    self.log:error("cannot build the handshake headers: %s", tostring(headers))
    return self:lost(0, "bad headers", true)
  end
  self.url = url
  self.state = "connecting"
  self.connects = self.connects + 1
  if self.connects > 1 then
    self.reconnects = self.reconnects + 1
  end
  self.opened_at, self.live_at, self.auth_deadline, self.hb_at = nil, nil, nil, nil
  self.connect_started = now()
  self.subscribed = {}
  self.spec_state = {}   -- every connection starts with an empty state (channel ids, ...)
  self.outq = {}
  -- lines every attempt of every shard would repeat are rate-limited per connection definition
  self.def.log:event("info", "connecting", self:named("connecting to " .. url))
  local session = def.transport.session(self.R, def, self)
  local sok, err = session:open(url, headers)
  if not sok then
    self.log:error("cannot connect: %s", tostring(err))
    return self:lost(0, tostring(err), true)
  end
  self.session = session
end

function Connection:send_frames(frames, what)
  for _, fr in ipairs(frames) do
    if fr.text or fr.binary or fr.topics then
      local ok, err = self.session and self.session:send(fr)
      if not ok then
        self.errors = self.errors + 1
        self.log:event("warning", "send", what .. " frame not sent: " .. tostring(err or "not connected"))
      elseif self.rt.recorder and (fr.text or fr.binary) then
        self.rt.recorder(self.def.name, "out", fr.binary ~= nil, fr.binary or fr.text)
      end
    elseif fr.http then
      self.http_out = self.http_out or require("feedhost.runtime.http_out").new(self)
      self.http_out:send(fr.http, what)
    end
  end
end

-- ---- the transport's events ---------------------------------------------------------------------
function Connection:on_transport_open()
  self.opened_at = now()
  self.last_frame_at = self.opened_at
  self.last_data_at = self.opened_at
  self.log:info("connected")
  self:hook("on_connect")
  local ok, frames = pcall(self.def.c.auth_frames)
  if not ok then
    self.errors = self.errors + 1
    self.log:error("cannot build the auth message: %s", tostring(frames))
    return self:close_and_retry("auth_failed")
  end
  if #frames > 0 then
    self:send_frames(frames, "auth")
  end
  if self.def.has_ack then
    self.state = "authenticating"
    self.auth.waiting = true
    self.auth_deadline = now() + self.def.auth_timeout
  else
    self:subscribe_all()
  end
end

-- A batch of frames; `t`: the session's clock.mono() as it came.
function Connection:on_transport_frames(batch, t)
  local n = tonumber(batch.n)
  self.first_frame_at = self.first_frame_at or t
  self.last_frame_at = t
  self.frames = self.frames + n
  self.bytes = self.bytes + tonumber(batch.used)
  local rec = self.rt.recorder
  if rec then
    for i = 0, n - 1 do
      local f = batch.frames[i]
      rec(self.def.name, "in", f.kind == BINARY, ffi.string(batch.buf + f.off, f.len), f.ts,
        f.meta > 0 and ffi.string(batch.buf + f.off - f.meta, f.meta) or nil)
    end
  end
  local p = self.pipeline
  local st = p.stats
  local r0, e0, a0, h0, m0 = st.records, st.errors, st.app_errors, st.heartbeats, st.empty
  local auth = self.auth
  p.run(batch, auth, self.spec_state)
  local dr = st.records - r0
  self.records = self.records + dr
  self.errors = self.errors + (st.errors - e0)
  self.app_errors = self.app_errors + (st.app_errors - a0)
  -- data frames: anything but heartbeats and empty decodes
  if dr > 0 or n - (st.heartbeats - h0) - (st.empty - m0) > 0 then
    self.last_data_at = t
  end
  if auth.acked then
    auth.acked = nil
    self:on_auth_ack()
  end
  if auth.rejected ~= nil then
    local data = auth.rejected
    auth.rejected = nil
    self:on_auth_reject(data)
  end
end

function Connection:on_alive()
  self.last_frame_at = now()
end

function Connection:on_oversize(bytes)
  self.errors = self.errors + 1
  self.log:event("warning", "oversize", string.format("dropped a frame of at least %d bytes (limits.max_frame_bytes %s)",
    bytes, tostring(self.def.limits.max_frame_bytes or "16777216")))
end

function Connection:on_invalid(bytes, offset, sample)
  self.errors = self.errors + 1
  self.log:event("warning", "invalid", string.format("dropped a text frame of %d bytes that is not"
    .. " UTF-8 (first bad byte at %d)", bytes, offset), sample)
end

function Connection:on_dropped(n)
  self.dropped = self.dropped + n
  self.log:event("warning", "dropped", string.format("dropped %d messages: the loop's inbox was full"
    .. " (%d dropped so far)", n, self.dropped))
end

-- A problem the transport reports that does not end the connection (a refused subscription):
-- counted and logged, rate-limited by `key`.
function Connection:on_transport_warning(key, message)
  self.errors = self.errors + 1
  self.log:event("warning", key, message)
end

function Connection:on_transport_close(code, reason)
  self.session = nil
  self:lost(code, reason)
end

function Connection:on_transport_error(message, status)
  self.session = nil
  self.errors = self.errors + 1
  self.def.log:event("error", "connect", self:named(message))
  self:hook("on_error", { error = message, code = status })
  self:lost(status or 0, message, true)
end

-- ---- auth and subscriptions -------------------------------------------------------------------------
function Connection:on_auth_ack()
  if self.state ~= "authenticating" then
    return
  end
  self.auth.waiting = false
  self.auth_deadline = nil
  self.log:info("authenticated")
  self:subscribe_all()
end

function Connection:on_auth_reject(data)
  self.auth.waiting = false
  self.auth_deadline = nil
  local sample = data
  if type(data) == "table" then
    local ok, s = pcall(json.encode, data)
    sample = ok and s or tostring(data)
  end
  self.errors = self.errors + 1
  self.log:error("auth rejected: %s", tostring(sample))
  self:hook("on_error", { error = "auth rejected", message = sample })
  self:close_and_retry("auth_rejected")
end

-- The spec's setup messages (once per connection, after auth), then every current asset, per
-- channel; the subscriptions paced by limits.subscribe_rate.
function Connection:subscribe_all()
  self.state = "subscribing"
  local sok, setup = pcall(self.def.c.setup_frames)
  if not sok then
    self.errors = self.errors + 1
    self.log:error("cannot build the setup messages: %s", tostring(setup))
  elseif #setup > 0 then
    self:send_frames(setup, "setup")
  end
  self:subscribe_assets()
end

-- The spec's `kind` ("subscribe" or "unsubscribe") frames for `assets`, rendered with this
-- connection's state (what its hooks learnt: channel ids the unsubscribe names); an error is
-- counted and logged. @return frames, or nil
function Connection:render(kind, assets)
  local ok, frames = pcall(self.def.c[kind], assets, nil, self.spec_state)
  if ok then
    return frames
  end
  self.errors = self.errors + 1
  self.log:error("cannot build the %s messages: %s", kind, tostring(frames))
end

-- Every current asset subscribed, per channel, paced; `frames`: the subscribe messages when
-- they are rendered already.
function Connection:subscribe_assets(frames)
  -- rendered even without assets: a stream like Alpaca's trade_updates subscribes to none
  frames = frames or self:render("subscribe", self.assets) or {}
  for _, a in ipairs(self.assets) do
    self.subscribed[symbol_of(a)] = true
  end
  self:queue(frames, "subscribe")
end

function Connection:queue(frames, what)
  local rate = self.def.limits.subscribe_rate
  if not rate then
    self:send_frames(frames, what)
    return self:subscribed_done()
  end
  for _, fr in ipairs(frames) do
    self.outq[#self.outq + 1] = { fr = fr, what = what }
  end
  if not self.pacer then
    self:pace()
  end
end

function Connection:pace()
  self.pacer = nil
  if self.state ~= "subscribing" and self.state ~= "live" then
    return
  end
  local item = table.remove(self.outq, 1)
  if not item then
    return self:subscribed_done()
  end
  self:send_frames({ item.fr }, item.what)
  self.pacer = self.R:after(1 / self.def.limits.subscribe_rate, function() self:pace() end)
end

function Connection:subscribed_done()
  if self.state == "subscribing" then
    self.state = "live"
    self.live_at = now()
    self.log:info("subscribed %d asset%s", #self.assets, #self.assets == 1 and "" or "s")
  end
end

-- ---- closing and coming back ------------------------------------------------------------------------
-- Closes on purpose (`why`: a feedhost.transport.CLOSE_REASONS key); the close event then
-- schedules the reconnect.
function Connection:close_and_retry(why)
  if self.session then
    self.log:info("closing: %s", require("feedhost.transport").CLOSE_REASONS[why] or why)
    self.session:close(why)
    self.state = "closing"
  end
end

--- Closes, and stays closed once the runtime stops or the connection is retired. `why`: a
-- feedhost.transport.CLOSE_REASONS key (default "shutdown").
function Connection:shutdown(why)
  if self.retry then
    self.retry:cancel()
    self.retry = nil
  end
  if self.session then
    self.session:close(why or "shutdown")
    self.state = "closing"
  elseif self.state ~= "connecting" then
    self.state = "closed"
  end
end

function Connection:lost(code, reason, failed)
  local was_live = self.live_at
  if self.pacer then
    self.pacer:cancel()
    self.pacer = nil
  end
  if not failed then
    self.log:info("closed %s %s", tostring(code), tostring(reason))
    self:hook("on_disconnect", { code = code, reason = reason })
  end
  self.session = nil
  self.auth.waiting = false
  if self.http_out then
    self.http_out:cancel()
  end
  if self.rt.stopping or self.retired then
    self.state = "closed"
    return
  end
  if self.restarting then   -- a reload changed what this connection is: again at once
    self.restarting = nil
    return self:connect()
  end
  if self.rt.once then
    self.state = "closed"
    return
  end
  local rc = self.def.reconnect
  if was_live and now() - was_live >= rc.stable_after then
    self.attempt = 0
  end
  local delay = M.backoff(rc, self.attempt, self.rt.random)
  self.attempt = self.attempt + 1
  self.state = "backoff"
  self.def.log:event("info", "backoff", self:named(string.format("reconnecting in %s (attempt %d)",
    secs(delay), self.attempt)))
  self.retry = self.R:after(delay, function()
    self.retry = nil
    self:connect()
  end)
end

-- ---- hot reload (feedhost.runtime.reload) ------------------------------------------------------
--- Connects again now, without backoff: the spec's url, backend or auth changed.
function Connection:restart()
  if self.retry then
    self.retry:cancel()
    self.retry = nil
  end
  self.attempt = 0
  if self.session and self.state == "connecting" then   -- not open yet: start over
    local session = self.session
    self.session = nil
    session:abandon()
    return self:connect()
  elseif self.session then
    self.restarting = true
    self:close_and_retry("reload")
  elseif self.state == "backoff" or (self.state == "idle" and self.rt.started) then
    return self:connect()
  end
end

--- Closes for good: the connection left the spec.
function Connection:retire()
  self.retired = true
  return self:shutdown("reload")
end

--- The live connection's subscriptions again with the new messages: the old spec's unsubscribe
-- `frames` (for the current assets) first, then every current asset subscribed, paced as ever
-- (the setup messages are not sent again). `held`: the old spec's subscribe frames, what the
-- session holds: topics (MQTT, ZeroMQ) that stay are neither withdrawn nor subscribed again
-- (feedhost.transport.topic_changes).
function Connection:resubscribe(frames, held)
  if self.state ~= "live" and self.state ~= "subscribing" then
    return false   -- not subscribed yet: the new messages go out when it is
  end
  if #self.outq > 0 then
    held = {}   -- some old subscriptions were never sent: every new one goes out
  end
  if self.pacer then
    self.pacer:cancel()
    self.pacer = nil
  end
  self.outq = {}
  local sub = self:render("subscribe", self.assets)
  if sub then
    frames, sub = require("feedhost.transport").topic_changes(frames, held or {}, sub)
  end
  self:queue(frames, "unsubscribe")
  self.state = "subscribing"
  self:subscribe_assets(sub or {})
  return true
end

-- A handshake that does not finish (a server that accepts TCP and says nothing, a TLS peer that
-- never answers): given up after limits.connect_timeout, then backoff as for any failure.
function Connection:connect_timed_out()
  self.session:abandon()
  return self:on_transport_error(string.format(
    "no connection within %s (the handshake did not finish)", secs(self.def.connect_timeout)))
end

-- Liveness, every tick.
function Connection:check(t)
  local session = self.session
  if session and self.state == "connecting" and t - self.connect_started > self.def.connect_timeout then
    return self:connect_timed_out()
  end
  if not session or self.state == "closing" or self.state == "connecting" then
    return
  end
  local def = self.def
  if self.auth_deadline and t > self.auth_deadline then
    self.errors = self.errors + 1
    self.log:error("no auth confirmation within %s", secs(def.auth_timeout))
    return self:close_and_retry("auth_timeout")
  end
  local hb = def.heartbeat
  if hb.idle_timeout and self.state == "live" and t - (self.last_data_at or t) > hb.idle_timeout then
    self.log:warning("no data for %s (idle_timeout): reconnecting", secs(t - self.last_data_at))
    return self:close_and_retry("idle")
  end
  -- the spec's heartbeat: a message or a ping every interval
  if hb.interval and t - (self.hb_at or self.opened_at or t) >= hb.interval then
    self.hb_at = t
    if hb.message == "ping" then
      session:ping()
    elseif def.heartbeat_fn then
      local ok, frames = pcall(def.heartbeat_fn, self:ctx())
      if ok then
        self:send_frames(frames, "heartbeat")
      else
        self.errors = self.errors + 1
        self.log:event("warning", "heartbeat", "heartbeat message failed: " .. tostring(frames))
      end
    end
  end
  -- the transport's own liveness (protocol pings)
  local give_up, waited = session:tick(t)
  if give_up then
    self.log:warning("no answer for %s after a ping: reconnecting", secs(waited or 0))
    return self:close_and_retry(give_up)
  end
end

return M
