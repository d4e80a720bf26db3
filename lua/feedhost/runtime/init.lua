--- feedhost.runtime: the live connections of one compiled spec, over a reactor.
--
-- Each connection of the spec becomes one runtime.connection, or several when
-- `limits.max_assets` shards its assets; each goes through its backend's transport
-- (feedhost.transport). The runtime owns the definitions they share, the asset sets, the
-- liveness tick and the stats.
--
--   local rt = runtime.new{ compiled = spec.compile(...), reactor = R, log = log,
--                           urls = {market_data = "ws://..."}, once = false, recorder = fn }
--   rt:set_assets(list_of_assets); rt:start(); ... R:step(...) ...; rt:stop()
local clock = require("feedhost.sys.clock")
local messages = require("feedhost.spec.messages")
local transport = require("feedhost.transport")
local connection = require("feedhost.runtime.connection")
local watch = require("feedhost.sys.watch")

local now = clock.mono

local M = {}

M.DEFAULTS = {
  reconnect = { initial = 1, max = 30, factor = 2, jitter = 0.2, stable_after = 30 },
  auth_timeout = 10,
  connect_timeout = 10, -- TCP, TLS and the protocol's handshake, until the connection is open
  tick = 0.2,           -- liveness checks
}

local Runtime = {}
Runtime.__index = Runtime

local function resolve_fn(ref, registry)
  if type(ref) == "table" then   -- { custom = name | function }
    ref = ref.custom
  end
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

-- The definition every connection (shard) of spec connection `name` shares.
local function definition(self, name)
  local c = self.compiled.connections[name]
  local spec = c.spec
  local registry = self.compiled.spec.registry or {}
  local backend = spec.backend or {}
  local hooks = spec.hooks or {}
  local t, terr = transport.get(backend.type)
  if not t then
    error("streaming.connections." .. name .. ".backend.type: " .. terr, 0)
  end
  local path = "streaming.connections." .. name
  local url = self.urls[name] or spec.url
  local ok, uerr = t.parse_url(url)
  if not ok then
    error(path .. ".url: " .. uerr .. (self.urls[name] and " (given with --url)" or ""), 0)
  end
  local options = backend.options or {}
  local ca_file = options.ca_file or self.tls.ca_file
  if ca_file then
    local f, ferr = io.open(ca_file, "rb")
    if not f then
      error((options.ca_file and (path .. ".backend.options.ca_file") or "--ca-file")
        .. ": cannot read the CA file: " .. tostring(ferr), 0)
    end
    f:close()
  end
  local def = {
    name = name, c = c, spec = spec, pipeline = c.pipeline, transport = t,
    log = self.log:child(name),
    reconnect = merged(M.DEFAULTS.reconnect, spec.reconnect),
    limits = spec.limits or {},
    has_ack = spec.auth ~= nil and spec.auth.ack ~= nil,
    auth_timeout = (spec.auth and spec.auth.timeout) or M.DEFAULTS.auth_timeout,
    connect_timeout = (spec.limits or {}).connect_timeout or M.DEFAULTS.connect_timeout,
    hooks = { on_connect = resolve_fn(hooks.on_connect, registry),
      on_disconnect = resolve_fn(hooks.on_disconnect, registry),
      on_error = resolve_fn(hooks.on_error, registry) },
    hook_labels = {},
    heartbeat = spec.heartbeat or {},
    options = options,
    verify = options.verify ~= false and not self.tls.insecure,
    ca_file = ca_file,
    sockets = {},
  }
  for _, h in ipairs({ "on_connect", "on_disconnect", "on_error" }) do
    def.hook_labels[h] = watch.label(name .. ": hooks." .. h)
  end
  local hb = def.heartbeat
  if type(hb.message) == "table" then
    local f, errs = messages.compile(hb.message, "streaming.connections." .. name .. ".heartbeat.message",
      { registry = registry, helpers = self.compiled.helpers, location = "auth" })
    if not f then
      error(errs[1].path .. ": " .. errs[1].msg, 0)
    end
    def.heartbeat_fn = f
  end
  return def
end
M.definition = definition   -- for feedhost.runtime.reload: (runtime-like {compiled, urls, tls, log}, name)

--- opts: compiled, reactor, log, urls = {name = url}, once, recorder(conn, dir, binary, data, ts),
--  tls = {ca_file, insecure}, connections = {names} (default all), random (the backoff jitter's
--  source of numbers in [0, 1); default the host's, seeded per process, so hosts differ).
--  Raises a message naming the key path when a connection cannot be set up (an unsupported
--  backend, a bad heartbeat).
function M.new(opts)
  local self = setmetatable({
    compiled = opts.compiled, R = opts.reactor, log = opts.log, urls = opts.urls or {},
    once = opts.once, recorder = opts.recorder, tls = opts.tls or {},
    random = opts.random or require("feedhost.sys.ffi").api.random,
    sockets = {}, defs = {}, assets = {}, stopping = false,
  }, Runtime)
  for _, name in ipairs(opts.connections or self.compiled.order) do
    self.defs[#self.defs + 1] = definition(self, name)
  end
  self:set_assets({})   -- one idle connection per definition until assets come
  return self
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

--- Sets the assets (Asset tables) every connection subscribes to; shards by max_assets.
function Runtime:set_assets(list)
  self.assets = dedup(list)
  for _, def in ipairs(self.defs) do
    local parts = shard(def.c.assets_of(self.assets), def.limits.max_assets)
    for i, part in ipairs(parts) do
      local s = def.sockets[i]
      if not s then
        s = connection.new(self, def, i)
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
  self.started = true
  for _, s in ipairs(self.sockets) do
    if s.state == "idle" then
      s:connect()
    end
  end
  self.ticker = self.R:every(M.DEFAULTS.tick, function() self:tick() end)
end

--- Closes every connection; `done()` is true once all are closed.
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
  for i = #self.sockets, 1, -1 do   -- connections a reload took out of the spec, once closed
    local s = self.sockets[i]
    if s.retired and s.state == "closed" then
      table.remove(self.sockets, i)
    end
  end
  for _, s in ipairs(self.sockets) do
    local ok, err = pcall(s.check, s, t)
    if not ok then
      s:on_callback_error("liveness check", err)
    end
  end
end

--- One line per connection: state, rates since the last call, totals, reconnects, last frame age.
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
      "stats %s: %s frames/s %.1f records/s %.1f frames %d records %d errors %d reconnects %d last_frame %s%s%s",
      s.label, s.state, (s.frames - m.frames) / dt, (s.records - m.records) / dt, s.frames, s.records,
      s.errors, s.reconnects, s.last_frame_at and string.format("%.2fs", t - s.last_frame_at) or "-",
      s.app_errors > 0 and (" app_errors " .. s.app_errors) or "",
      s.dropped > 0 and (" dropped " .. s.dropped) or "")
    s.stat_mark = { at = t, frames = s.frames, records = s.records }
  end
  return lines
end

function Runtime:stats()
  local out = {}
  for _, s in ipairs(self.sockets) do
    out[s.label] = { state = s.state, frames = s.frames, records = s.records, errors = s.errors,
      app_errors = s.app_errors, reconnects = s.reconnects, assets = #s.assets, dropped = s.dropped,
      bytes = s.bytes, first_frame_at = s.first_frame_at, last_frame_at = s.last_frame_at,
      pipeline = s.pipeline.stats }
  end
  return out
end

return M
