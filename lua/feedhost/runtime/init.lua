--- feedhost.runtime: the live connections of one compiled spec, over a reactor.
--
-- Each connection of the spec becomes one socket, or several when `limits.max_assets` shards
-- its assets. A socket walks connecting -> authenticating -> subscribing -> live; on any loss
-- it backs off (capped exponential, jittered, reset only after `stable_after` of good service)
-- and starts again: auth again, then every current asset resubscribed, deduplicated and paced
-- by `limits.subscribe_rate`. Liveness: WebSocket pings, the spec's heartbeat message, and an
-- idle timeout that counts data frames only.
--
--   local rt = runtime.new{ compiled = spec.compile(...), reactor = R, log = log,
--                           urls = {market_data = "ws://..."}, once = false, recorder = fn }
--   rt:set_assets(list_of_assets); rt:start(); ... R:step(...) ...; rt:stop()
local json = require("feedhost.util.json")
local messages = require("feedhost.spec.messages")
local reactor_mod = require("feedhost.runtime.reactor")
local cffi = require("feedhost.sys.ffi")
local ffi = require("ffi")

local M = {}

M.DEFAULTS = {
  reconnect = { initial = 1, max = 30, factor = 2, jitter = 0.2, stable_after = 30 },
  auth_timeout = 10,
  ping_interval = 20,   -- WebSocket ping when nothing else keeps the line busy (0: off)
  ping_timeout = 20,    -- no frame at all this long after a ping: the connection is dead
  tick = 0.2,           -- liveness checks
}

local now = reactor_mod.now

-- ws://host:port/path?query -> parts, or nil, why
function M.parse_url(url)
  local scheme, rest = tostring(url):match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then
    return nil, "not a URL: " .. tostring(url)
  end
  scheme = scheme:lower()
  if scheme ~= "ws" and scheme ~= "wss" then
    return nil, "a WebSocket URL must start with ws:// or wss://: " .. url
  end
  local hostport, path = rest:match("^([^/?#]*)(.*)$")
  path = path:gsub("#.*$", "")
  if path == "" or path:sub(1, 1) == "?" then
    path = "/" .. path
  end
  local host, port = hostport:match("^%[([^%]]+)%]:?(%d*)$")
  if not host then
    host, port = hostport:match("^([^:]*):?(%d*)$")
  end
  if not host or host == "" then
    return nil, "no host in URL: " .. url
  end
  local tls = scheme == "wss"
  port = tonumber(port) or (tls and 443 or 80)
  return { scheme = scheme, host = host, port = port, path = path, tls = tls }
end

-- "1.5s", for log lines
local function secs(x)
  return string.format("%.2fs", x)
end

local Socket = {}
Socket.__index = Socket

local Runtime = {}
Runtime.__index = Runtime

local function resolve_fn(ref, registry)
  if type(ref) == "function" then
    return ref
  end
  if type(ref) == "string" then
    return registry[ref]
  end
  return nil
end

local function merged(defaults, given)
  local out = {}
  for k, v in pairs(defaults) do
    out[k] = v
  end
  for k, v in pairs(given or {}) do
    out[k] = v
  end
  return out
end

--- opts: compiled, reactor, log, urls = {name = url}, once, recorder(conn, dir, kind, data, ts),
--  on_record(r) (set as the compile's emit by the caller), tls = {ca_file, insecure},
--  connections = {names} (default all)
function M.new(opts)
  local self = setmetatable({
    compiled = opts.compiled,
    R = opts.reactor,
    log = opts.log,
    urls = opts.urls or {},
    once = opts.once,
    recorder = opts.recorder,
    tls = opts.tls or {},
    sockets = {},
    defs = {},
    assets = {},
    stopping = false,
    current = nil,
  }, Runtime)
  local registry = self.compiled.spec.registry or {}
  local names = opts.connections or self.compiled.order
  for _, name in ipairs(names) do
    local c = self.compiled.connections[name]
    local spec = c.spec
    local backend = spec.backend or {}
    local options = backend.options or {}
    local hooks = spec.hooks or {}
    local hb = spec.heartbeat or {}
    local def = {
      name = name,
      c = c,
      spec = spec,
      pipeline = c.pipeline,
      log = self.log:child(name),
      reconnect = merged(M.DEFAULTS.reconnect, spec.reconnect),
      limits = spec.limits or {},
      has_ack = spec.auth ~= nil and spec.auth.ack ~= nil,
      auth_timeout = (spec.auth and spec.auth.timeout) or M.DEFAULTS.auth_timeout,
      on_connect = resolve_fn(hooks.on_connect, registry),
      on_disconnect = resolve_fn(hooks.on_disconnect, registry),
      on_error = resolve_fn(hooks.on_error, registry),
      heartbeat = hb,
      ping_interval = options.ping_interval or M.DEFAULTS.ping_interval,
      ping_timeout = options.ping_timeout or M.DEFAULTS.ping_timeout,
      verify = options.verify ~= false and not self.tls.insecure,
      ca_file = options.ca_file or self.tls.ca_file,
      deflate = options.deflate == true,
      sockets = {},
    }
    if type(hb.message) == "table" then
      local f, errs = messages.compile(hb.message, "streaming.connections." .. name .. ".heartbeat.message",
        { registry = registry, helpers = self.compiled.helpers, location = "auth" })
      if not f then
        error(errs[1].path .. ": " .. errs[1].msg)
      end
      def.heartbeat_fn = f
    end
    self.defs[#self.defs + 1] = def
  end
  self:set_assets({})   -- one idle socket per connection until assets come
  return self
end

--- The auth callbacks for spec.compile's `auth` option: call before compiling.
function M.auth_hooks(get_runtime)
  return function()
    return {
      ack = function()
        local rt = get_runtime()
        if rt and rt.current then
          rt.current:on_auth_ack()
        end
      end,
      reject = function(data)
        local rt = get_runtime()
        if rt and rt.current then
          rt.current:on_auth_reject(data)
        end
      end,
    }
  end
end

-- assets deduplicated by symbol, in the order given
local function dedup(list)
  local seen, out = {}, {}
  for _, a in ipairs(list) do
    local key = type(a) == "table" and (a.symbol or a.broker_symbol) or a
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = a
    end
  end
  return out
end

local function shard(list, max)
  if not max or #list <= max then
    return { list }
  end
  local out = {}
  for i = 1, #list, max do
    local part = {}
    for k = i, math.min(i + max - 1, #list) do
      part[#part + 1] = list[k]
    end
    out[#out + 1] = part
  end
  return out
end

function Runtime:new_socket(def, index)
  local s = setmetatable({
    rt = self, def = def, index = index, R = self.R, pipeline = def.pipeline,
    label = index > 1 and (def.name .. "[" .. index .. "]") or def.name,
    log = index > 1 and self.log:child(def.name .. "[" .. index .. "]") or def.log,
    state = "idle", assets = {}, subscribed = {}, attempt = 0,
    frames = 0, records = 0, errors = 0, reconnects = 0, connects = 0,
    last_frame_at = nil, last_data_at = nil, sent_ping_at = nil,
  }, Socket)
  s.stat_mark = { at = now(), frames = 0, records = 0 }
  return s
end

--- Sets the assets (Asset tables) every connection subscribes to; shards by max_assets.
function Runtime:set_assets(list)
  self.assets = dedup(list)
  for _, def in ipairs(self.defs) do
    local parts = shard(self.assets, def.limits.max_assets)
    for i, part in ipairs(parts) do
      local s = def.sockets[i]
      if not s then
        s = self:new_socket(def, i)
        def.sockets[i] = s
        self.sockets[#self.sockets + 1] = s
      end
      s:set_assets(part)
    end
    for i = #parts + 1, #def.sockets do
      def.sockets[i]:set_assets({})
    end
  end
end

function Runtime:start()
  for _, s in ipairs(self.sockets) do
    if s.state == "idle" then
      s:connect()
    end
  end
  self.ticker = self.R:every(M.DEFAULTS.tick, function() self:tick() end)
end

--- Closes every socket; `done()` is true once all are closed.
function Runtime:stop()
  self.stopping = true
  for _, s in ipairs(self.sockets) do
    s:shutdown()
  end
end

function Runtime:done()
  for _, s in ipairs(self.sockets) do
    if s.state ~= "closed" and s.state ~= "idle" then
      return false
    end
  end
  return true
end

function Runtime:tick()
  local t = now()
  for _, s in ipairs(self.sockets) do
    s:check(t)
  end
end

--- One line per socket: state, rates since the last call, totals, reconnects, last frame age.
function Runtime:stats_lines()
  local t = now()
  local lines = {}
  for _, s in ipairs(self.sockets) do
    local m = s.stat_mark
    local dt = t - m.at
    if dt <= 0 then
      dt = 1
    end
    lines[#lines + 1] = string.format(
      "stats %s: %s frames/s %.1f records/s %.1f frames %d records %d errors %d reconnects %d last_frame %s",
      s.label, s.state, (s.frames - m.frames) / dt, (s.records - m.records) / dt, s.frames, s.records,
      s.errors, s.reconnects, s.last_frame_at and secs(t - s.last_frame_at) or "-")
    s.stat_mark = { at = t, frames = s.frames, records = s.records }
  end
  return lines
end

function Runtime:stats()
  local out = {}
  for _, s in ipairs(self.sockets) do
    out[s.label] = { state = s.state, frames = s.frames, records = s.records, errors = s.errors,
      reconnects = s.reconnects, assets = #s.assets, pipeline = s.pipeline.stats }
  end
  return out
end

-- ---- socket --------------------------------------------------------------------------------------

function Socket:ctx(extra)
  local c = self.def.c.ctx
  local ctx = { broker = c.broker, credentials = c.credentials, connection_name = self.def.name }
  for k, v in pairs(extra or {}) do
    ctx[k] = v
  end
  return ctx
end

-- Runs a lifecycle hook; an error in it is counted and logged, never raised.
function Socket:hook(name, extra)
  local f = self.def[name]
  if not f then
    return
  end
  local ok, err = pcall(f, self:ctx(extra))
  if not ok then
    self.errors = self.errors + 1
    self.log:event("warning", "hook:" .. name, "hooks." .. name .. " failed: " .. tostring(err))
  end
end

function Socket:set_assets(list)
  local old = self.assets
  self.assets = list
  if self.state == "live" or self.state == "subscribing" then
    -- subscribe what is new, unsubscribe what went away
    local keep, added, removed = {}, {}, {}
    for _, a in ipairs(list) do
      keep[a.symbol or a] = true
      if not self.subscribed[a.symbol or a] then
        added[#added + 1] = a
      end
    end
    for _, a in ipairs(old) do
      if not keep[a.symbol or a] then
        removed[#removed + 1] = a
      end
    end
    if #removed > 0 then
      self:queue(self.def.c.unsubscribe(removed), "unsubscribe")
      for _, a in ipairs(removed) do
        self.subscribed[a.symbol or a] = nil
      end
    end
    if #added > 0 then
      self:queue(self.def.c.subscribe(added), "subscribe")
    end
  elseif self.state == "idle" and self.rt.ticker and not self.rt.stopping then
    self:connect()
  end
end

function Socket:connect()
  if self.rt.stopping then
    self.state = "closed"
    return
  end
  local def = self.def
  local base = self.rt.urls[def.name]
  local ok, url = pcall(def.c.url, base)
  if not ok then
    self.log:error("cannot build the URL: %s", tostring(url))
    return self:lost(0, "bad url", true)
  end
  local u, uerr = M.parse_url(url)
  if not u then
    self.log:error("%s", uerr)
    self.state = "closed"
    return
  end
  local hok, headers = pcall(def.c.headers)
  if not hok then
    self.log:error("cannot build the handshake headers: %s", tostring(headers))
    return self:lost(0, "bad headers", true)
  end
  local hl = {}
  for _, h in ipairs(headers) do
    hl[#hl + 1] = h[1] .. ": " .. h[2]
  end
  self.url = url
  self.state = "connecting"
  self.connects = self.connects + 1
  if self.connects > 1 then
    self.reconnects = self.reconnects + 1
  end
  self.opened_at, self.live_at, self.auth_deadline = nil, nil, nil
  self.subscribed = {}
  self.outq = {}
  self.log:info("connecting to %s", url)
  local id, err = self.R:connect({ host = u.host, port = u.port, path = u.path, tls = u.tls,
    verify = def.verify, ca_file = def.ca_file, headers = table.concat(hl, "\n"),
    max_frame = def.limits.max_frame_bytes, deflate = def.deflate }, self)
  if not id then
    self.log:error("cannot connect: %s", tostring(err))
    return self:lost(0, tostring(err), true)
  end
  self.id = id
end

function Socket:send_frames(frames, what)
  for _, fr in ipairs(frames) do
    local data, binary = fr.text, false
    if fr.binary then
      data, binary = fr.binary, true
    end
    if data then
      local ok, err = self.R:send(self.id, data, binary)
      if not ok then
        self.errors = self.errors + 1
        self.log:event("warning", "send", what .. " frame not sent: " .. tostring(err))
      elseif self.rt.recorder then
        self.rt.recorder(self.def.name, "out", binary, data)
      end
    elseif fr.http then
      self.log:event("warning", "http", what .. ": HTTP subscribe messages are not sent by this"
        .. " version (" .. fr.http.method .. " " .. fr.http.url .. ")")
    end
  end
end

function Socket:on_open(id)
  self.opened_at = now()
  self.last_frame_at = self.opened_at
  self.last_data_at = self.opened_at
  self.sent_ping_at = nil
  self.log:info("connected")
  self:hook("on_connect")
  local ok, frames = pcall(self.def.c.auth_frames)
  if not ok then
    self.errors = self.errors + 1
    self.log:error("cannot build the auth message: %s", tostring(frames))
    return self:close_and_retry(4000, "auth message failed")
  end
  if #frames > 0 then
    self:send_frames(frames, "auth")
  end
  if self.def.has_ack then
    self.state = "authenticating"
    self.auth_waiting = true
    self.auth_deadline = now() + self.def.auth_timeout
  else
    self:subscribe_all()
  end
end

function Socket:on_auth_ack()
  if self.state ~= "authenticating" then
    return
  end
  self.auth_waiting = false
  self.auth_deadline = nil
  self.log:info("authenticated")
  self:subscribe_all()
end

function Socket:on_auth_reject(data)
  self.auth_waiting = false
  self.auth_deadline = nil
  local sample = data
  if type(data) == "table" then
    local ok, s = pcall(json.encode, data)
    sample = ok and s or tostring(data)
  end
  self.errors = self.errors + 1
  self.log:error("auth rejected: %s", tostring(sample))
  self:hook("on_error", { error = "auth rejected", message = sample })
  self:close_and_retry(4001, "auth rejected")
end

-- Every current asset, per channel; paced by limits.subscribe_rate.
function Socket:subscribe_all()
  self.state = "subscribing"
  -- rendered even without assets: a stream like Alpaca's trade_updates subscribes to none
  local ok, frames = pcall(self.def.c.subscribe, self.assets)
  if not ok then
    self.errors = self.errors + 1
    self.log:error("cannot build the subscribe messages: %s", tostring(frames))
    frames = {}
  end
  for _, a in ipairs(self.assets) do
    self.subscribed[a.symbol or a] = true
  end
  self:queue(frames, "subscribe")
end

function Socket:queue(frames, what)
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

function Socket:pace()
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

function Socket:subscribed_done()
  if self.state == "subscribing" then
    self.state = "live"
    self.live_at = now()
    self.log:info("subscribed %d asset%s", #self.assets, #self.assets == 1 and "" or "s")
  end
end

function Socket:on_frames(id, batch)
  local t = now()
  local n = tonumber(batch.n)
  self.last_frame_at = t
  self.frames = self.frames + n
  local rec = self.rt.recorder
  if rec then
    for i = 0, n - 1 do
      local f = batch.frames[i]
      rec(self.def.name, "in", f.kind == 2, ffi.string(batch.buf + f.off, f.len), f.ts)
    end
  end
  local p = self.pipeline
  local st = p.stats
  local r0, e0, h0, m0 = st.records, st.errors, st.heartbeats, st.empty
  p.auth.waiting = self.auth_waiting or false
  self.rt.current = self
  p.run(batch)
  self.rt.current = nil
  if self.state == "authenticating" then
    self.auth_waiting = p.auth.waiting
  end
  local dr = st.records - r0
  self.records = self.records + dr
  self.errors = self.errors + (st.errors - e0)
  -- data frames: anything but heartbeats and empty decodes
  if dr > 0 or n - (st.heartbeats - h0) - (st.empty - m0) > 0 then
    self.last_data_at = t
  end
end

function Socket:on_pong(id)
  self.last_frame_at = now()
end

function Socket:on_oversize(id, bytes)
  self.errors = self.errors + 1
  self.log:event("warning", "oversize", string.format("dropped a frame of at least %d bytes (limits.max_frame_bytes %s)",
    bytes, tostring(self.def.limits.max_frame_bytes or "16777216")))
end

function Socket:on_close(id, code, reason)
  self.id = nil
  self:lost(code, reason)
end

function Socket:on_error(id, status, why)
  self.id = nil
  self.errors = self.errors + 1
  local msg
  if status and status > 0 then
    msg = string.format("handshake refused: HTTP %d (%s)", status, why)
  elseif why:find("certificate not accepted", 1, true) then
    msg = why .. " (--ca-file F or backend.options.ca_file trusts a CA; --insecure skips the check)"
  elseif why:find("SSL") or why:find("TLS") or why:find("tls") then
    msg = why:find("^TLS") and why or ("TLS handshake failed: " .. why)
  else
    msg = "connect failed: " .. why
  end
  self.log:error("%s", msg)
  self:hook("on_error", { error = msg, code = status })
  self:lost(status or 0, why, true)
end

-- Close this socket on purpose; on_close then schedules the reconnect.
function Socket:close_and_retry(code, reason)
  if self.id then
    self.log:info("closing: %s", reason)
    self.R:close(self.id, code, reason)
    self.state = "closing"
  end
end

function Socket:shutdown()
  if self.retry then
    self.retry:cancel()
    self.retry = nil
  end
  if self.id then
    self.R:close(self.id, 1000, "shutdown")
    self.state = "closing"
  elseif self.state ~= "connecting" then
    self.state = "closed"
  end
end

function Socket:lost(code, reason, failed)
  local was_live = self.live_at
  if self.pacer then
    self.pacer:cancel()
    self.pacer = nil
  end
  if not failed then
    self.log:info("closed %s %s", tostring(code), tostring(reason))
    self:hook("on_disconnect", { code = code, reason = reason })
  end
  self.id = nil
  self.auth_waiting = false
  if self.rt.stopping or self.rt.once then
    self.state = "closed"
    return
  end
  local rc = self.def.reconnect
  if was_live and now() - was_live >= rc.stable_after then
    self.attempt = 0
  end
  local delay = math.min(rc.max, rc.initial * rc.factor ^ self.attempt)
  delay = delay * (1 + rc.jitter * (2 * math.random() - 1))
  if delay < 0 then
    delay = 0
  end
  self.attempt = self.attempt + 1
  self.state = "backoff"
  self.log:info("reconnecting in %s (attempt %d)", secs(delay), self.attempt)
  self.retry = self.R:after(delay, function()
    self.retry = nil
    self:connect()
  end)
end

-- Liveness, every tick.
function Socket:check(t)
  if not self.id or self.state == "closing" or self.state == "connecting" then
    return
  end
  local def = self.def
  if self.auth_deadline and t > self.auth_deadline then
    self.errors = self.errors + 1
    self.log:error("no auth confirmation within %s", secs(def.auth_timeout))
    return self:close_and_retry(4002, "auth timeout")
  end
  local hb = def.heartbeat
  if hb.idle_timeout and self.state == "live" and t - (self.last_data_at or t) > hb.idle_timeout then
    self.log:warning("no data for %s (idle_timeout): reconnecting", secs(t - self.last_data_at))
    return self:close_and_retry(4003, "idle timeout")
  end
  -- the spec's heartbeat: a message or a ping frame every interval
  if hb.interval and t - (self.hb_at or self.opened_at or t) >= hb.interval then
    self.hb_at = t
    if hb.message == "ping" then
      self.R:ping(self.id)
      self.sent_ping_at = self.sent_ping_at or t
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
  -- protocol pings when the line is quiet; silence after a ping means a dead peer
  local timeout = hb.timeout or def.ping_timeout
  local quiet = t - (self.last_frame_at or t)
  if self.sent_ping_at and (self.last_frame_at or 0) >= self.sent_ping_at then
    self.sent_ping_at = nil
  end
  if self.sent_ping_at and timeout > 0 and t - self.sent_ping_at > timeout then
    self.log:warning("no answer for %s after a ping: reconnecting", secs(t - self.sent_ping_at))
    self.sent_ping_at = nil
    return self:close_and_retry(4004, "ping timeout")
  end
  if def.ping_interval > 0 and hb.message ~= "ping" and not self.sent_ping_at and quiet >= def.ping_interval then
    self.R:ping(self.id)
    self.sent_ping_at = t
  end
end

M.Socket = Socket
M.Runtime = Runtime

-- capture writer for --record: JSON lines that `feedhost replay` reads
function M.recorder(file)
  local api = cffi.api
  local b64 = cffi.base64
  return function(conn, dir, binary, data, ts)
    ts = ts or api.clock_realtime_ns()
    local body
    if binary then
      body = '"binary":' .. json.encode(b64(data))
    else
      body = '"text":' .. json.encode(data)
    end
    file:write(string.format('{"ts":%s,"connection":%s,"dir":"%s",%s}\n',
      tostring(ts):gsub("LL$", ""), json.encode(conn), dir, body))
  end
end

return M
