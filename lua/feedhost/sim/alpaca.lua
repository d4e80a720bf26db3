--- feedhost.sim.alpaca: an embedded exchange speaking Alpaca market data v2 (PROTOCOLS.md 2.1)
-- over a real WebSocket listener of the reactor. Used by `feedhost demo`, `feedhost simulate`,
-- integration and soak tests, and benchmarks.
--
--   local sim = simulator.new(R, { port = 0, key = "demo-key", secret = "demo-secret", rate = 20 })
--   local port = sim:start()          -- sim:url() -> "ws://127.0.0.1:<port>/v2/iex"
--   sim:stats() / sim:events() / sim:drop_all(code, reason) / sim:stop() / sim:restart()
--
-- One market (feedhost.sim.market) is shared by every client: prices random-walk per symbol from
-- `seed`, trade ids increase across clients and reconnects. Each authenticated client gets `rate`
-- data messages a second (arrays of 1..3 trade/quote items of its subscribed symbols) and one
-- array of bars every `bars_every` seconds for its bars symbols. One timer per simulator drives
-- all of it. This file is the protocol server: clients, auth, subscriptions, pacing, the timer.
local ffi = require("ffi")
local reactor = require("feedhost.runtime.reactor")
local json = require("feedhost.util.json")
local clock = require("feedhost.sys.clock")
local market = require("feedhost.sim.market")
local buffer = require("string.buffer")

local M = {}

local floor, max = math.floor, math.max
local format = string.format
local put_data, put_bars = market.put_data, market.put_bars
local data_pool, bar_symbols = market.data_pool, market.bar_symbols
local rfc3339_ns, rfc3339_sec = market.rfc3339_ns, market.rfc3339_sec

M.DEFAULT_SYMBOLS = market.DEFAULT_SYMBOLS

-- channels a subscribe may name; the first three carry data, the reply always lists them
local CHANNELS = { "trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds" }
local KNOWN_CHANNEL = {}
for _, ch in ipairs(CHANNELS) do
  KNOWN_CHANNEL[ch] = true
end
local ALWAYS_LISTED = { trades = true, quotes = true, bars = true }

local TICK = 0.05          -- seconds between timer runs
local MAX_EVENTS = 10000   -- events() keeps the last this many
local QUEUE_SOFT = 2048    -- data messages queued per client before more are skipped

-- ---- clients ------------------------------------------------------------------------------------
local Sim = {}
Sim.__index = Sim

local Client = {}
Client.__index = Client

local function new_set()
  return { list = {}, has = {} }
end

local function log_at(sim, level, fmt, ...)
  local log = sim.log
  if log then
    log[level](log, fmt, ...)
  end
end

local function send(sim, c, text)
  local ok = sim.R:send(c.id, text)
  if ok then
    sim.sent = sim.sent + 1
    c.sent = c.sent + 1
    return true
  end
  sim.dropped = sim.dropped + 1
  return false
end

local function send_control(sim, c, item)
  return send(sim, c, json.encode(json.array({ item })))
end

local function send_error(sim, c, code, msg)
  return send_control(sim, c, { T = "error", code = code, msg = msg })
end

-- Forgets the client now (its close event may come later).
local function forget(sim, c)
  if c.gone then
    return
  end
  c.gone = true
  sim.clients[c.id] = nil
  sim.order_dirty = true
  sim.nclients = sim.nclients - 1
  if c.authenticated then
    sim.nauth = sim.nauth - 1
  end
end

local function close_client(sim, c, code, reason)
  if c.gone then
    return
  end
  sim.R:close(c.id, code, reason)
  forget(sim, c)
end

local function copy_subs(subs)
  local out = {}
  for ch, set in pairs(subs) do
    local n = new_set()
    for i, s in ipairs(set.list) do
      n.list[i] = s
      n.has[s] = true
    end
    out[ch] = n
  end
  return out
end

-- the symbol lists of a subscribe / unsubscribe, or nil when malformed
local function requested(msg)
  local req = {}
  for k, v in pairs(msg) do
    if k ~= "action" and KNOWN_CHANNEL[k] then
      if type(v) ~= "table" then
        return nil
      end
      for i = 1, #v do
        if type(v[i]) ~= "string" or v[i] == "" then
          return nil
        end
      end
      -- anything but a list (e.g. {"a":1}) is malformed
      for key in pairs(v) do
        if type(key) ~= "number" then
          return nil
        end
      end
      req[k] = v
    end
  end
  return req
end

local function apply(subs, req, adding)
  for ch, syms in pairs(req) do
    local set = subs[ch]
    if not set then
      set = new_set()
      subs[ch] = set
    end
    if adding then
      for _, s in ipairs(syms) do
        if not set.has[s] then
          set.has[s] = true
          set.list[#set.list + 1] = s
        end
      end
    else
      local drop = {}
      for _, s in ipairs(syms) do
        drop[s] = true
      end
      local list = {}
      for _, s in ipairs(set.list) do
        if drop[s] then
          set.has[s] = nil
        else
          list[#list + 1] = s
        end
      end
      set.list = list
    end
  end
end

local function subscription_reply(subs)
  local item = { T = "subscription" }
  for _, ch in ipairs(CHANNELS) do
    local set = subs[ch]
    if ALWAYS_LISTED[ch] or (set and #set.list > 0) then
      local list = json.array({})
      if set then
        for i, s in ipairs(set.list) do
          list[i] = s
        end
      end
      item[ch] = list
    end
  end
  return item
end

local function on_subscribe(sim, c, msg, adding)
  local req = requested(msg)
  if not req then
    return send_error(sim, c, 400, "invalid syntax")
  end
  local next_subs = copy_subs(c.subs)
  apply(next_subs, req, adding)
  local pool = data_pool(sim.market, next_subs)
  if adding and sim.max_symbols and #pool > sim.max_symbols then
    return send_error(sim, c, 405, "symbol limit exceeded")
  end
  local had_data = #c.pool > 0
  c.subs = next_subs
  c.pool = pool
  c.bar_syms = bar_symbols(sim.market, next_subs)
  if #pool > 0 and not had_data then
    c.credit = 0
    c.last = reactor.now()
  end
  log_at(sim, "info", "client %d %s: trades %d quotes %d bars %d", c.id,
    adding and "subscribed" or "unsubscribed", #next_subs.trades.list, #next_subs.quotes.list,
    #next_subs.bars.list)
  return send_control(sim, c, subscription_reply(next_subs))
end

local function on_auth(sim, c, msg)
  if c.authenticated then
    return send_error(sim, c, 403, "already authenticated")
  end
  if msg.key ~= sim.key or msg.secret ~= sim.secret then
    log_at(sim, "info", "client %d: auth failed", c.id)
    send_error(sim, c, 402, "auth failed")
    return close_client(sim, c, 1008, "auth failed")
  end
  if sim.max_connections and sim.nauth >= sim.max_connections then
    send_error(sim, c, 406, "connection limit exceeded")
    return close_client(sim, c, 1008, "connection limit exceeded")
  end
  c.authenticated = true
  sim.nauth = sim.nauth + 1
  log_at(sim, "info", "client %d authenticated", c.id)
  return send_control(sim, c, { T = "success", msg = "authenticated" })
end

local function record_event(sim, msg)
  local ev = sim.event_list
  ev[#ev + 1] = msg
  if #ev > MAX_EVENTS then
    local keep = {}
    for i = #ev - MAX_EVENTS / 2 + 1, #ev do
      keep[#keep + 1] = ev[i]
    end
    sim.event_list = keep
  end
end

local function on_message(sim, c, text)
  sim.received = sim.received + 1
  c.received = c.received + 1
  local msg = json.decode_safe(text)
  if type(msg) ~= "table" then
    return send_error(sim, c, 400, "invalid syntax")
  end
  record_event(sim, msg)
  local action = msg.action
  if getmetatable(msg) == json.array_mt or type(action) ~= "string" then
    return send_error(sim, c, 400, "invalid syntax")
  end
  if action == "auth" then
    return on_auth(sim, c, msg)
  end
  if not c.authenticated then
    return send_error(sim, c, 401, "not authenticated")
  end
  if action == "subscribe" or action == "unsubscribe" then
    return on_subscribe(sim, c, msg, action == "subscribe")
  end
  return send_error(sim, c, 400, "invalid syntax")
end

function Client:on_frames(_, b)
  local sim = self.sim
  for i = 0, b.n - 1 do
    if self.gone then
      return
    end
    local f = b.frames[i]
    on_message(sim, self, ffi.string(b.buf + f.off, f.len))
  end
end

function Client:on_close(_, code, reason)
  local sim = self.sim
  if not self.gone then
    log_at(sim, "info", "client %d closed %d %s", self.id, code, reason)
  end
  forget(sim, self)
end
Client.on_error = Client.on_close

--- Called by the reactor for each accepted connection.
function Sim:on_accept(id)
  local c = setmetatable({
    sim = self, id = id, authenticated = false, connected_at = reactor.now(),
    subs = { trades = new_set(), quotes = new_set(), bars = new_set() },
    pool = {}, bar_syms = nil, credit = 0, last = reactor.now(), sent = 0, received = 0,
  }, Client)
  self.clients[id] = c
  self.order_dirty = true
  self.nclients = self.nclients + 1
  self.connections = self.connections + 1
  log_at(self, "info", "client %d connected", id)
  send_control(self, c, { T = "success", msg = "connected" })
  return c
end

-- ---- the timer ----------------------------------------------------------------------------------
local function ordered_clients(sim)
  if sim.order_dirty then
    local list = {}
    for _, c in pairs(sim.clients) do
      list[#list + 1] = c
    end
    table.sort(list, function(a, b)
      return a.id < b.id
    end)
    sim.order = list
    sim.order_dirty = false
  end
  return sim.order
end

local function send_data(sim, c, now)
  local pool = c.pool
  if #pool == 0 then
    return
  end
  local credit = c.credit + (now - c.last) * sim.rate
  c.last = now
  -- a stalled loop catches up at most one second of messages
  if credit > sim.rate + 1 then
    credit = sim.rate + 1
  end
  local n = floor(credit)
  c.credit = credit - n
  -- a client that does not keep up: what would overflow its send queue is not made at all
  local st = n > 0 and sim.R:stats(c.id)
  if st and st.out_queued + n > QUEUE_SOFT then
    local room = max(0, QUEUE_SOFT - st.out_queued)
    sim.dropped = sim.dropped + (n - room)
    n = room
  end
  local mk, buf = sim.market, sim.buf
  for _ = 1, n do
    buf:reset()
    local k = put_data(mk, buf, pool)
    if send(sim, c, buf:tostring()) then
      sim.data_sent = sim.data_sent + 1
      sim.items = sim.items + k
    end
    if c.gone then
      return
    end
  end
end

local function send_bars(sim, c, t)
  local syms = c.bar_syms
  if not syms then
    return
  end
  local buf = sim.buf
  buf:reset()
  put_bars(sim.market, buf, syms, t)
  if send(sim, c, buf:tostring()) then
    sim.data_sent = sim.data_sent + 1
    sim.items = sim.items + #syms
  end
end

local function tick(sim)
  local now = reactor.now()
  local bar_t
  if now >= sim.next_bar then
    sim.next_bar = sim.next_bar + sim.bars_every
    if sim.next_bar <= now then
      sim.next_bar = now + sim.bars_every
    end
    -- the bar of the period that just ended (as Alpaca stamps a minute bar with its start);
    -- never the same period twice, even when the timer runs a little early
    local wall = tonumber(clock.now_ns()) / 1e9
    local index = floor(wall / sim.bars_every) - 1
    if sim.bar_index and index <= sim.bar_index then
      index = sim.bar_index + 1
    end
    sim.bar_index = index
    local start = ffi.new("int64_t", index) * sim.bars_every_ns
    if start % 1000000000LL == 0 then
      bar_t = rfc3339_sec(tonumber(start / 1000000000LL))
    else
      bar_t = rfc3339_ns(start)
    end
  end
  local list = ordered_clients(sim)
  for i = 1, #list do
    local c = list[i]
    if not c.gone then
      if c.authenticated then
        send_data(sim, c, now)
        if bar_t and not c.gone then
          send_bars(sim, c, bar_t)
        end
      elseif now - c.connected_at >= sim.auth_timeout then
        log_at(sim, "info", "client %d: auth timeout", c.id)
        send_error(sim, c, 404, "auth timeout")
        close_client(sim, c, 1008, "auth timeout")
      end
    end
  end
end

-- ---- public -------------------------------------------------------------------------------------
--- A simulator on reactor `R` (not listening until `start`).
-- opts: host ("127.0.0.1"), port (0: any free port), key ("demo-key"), secret ("demo-secret"),
-- rate (20 data messages a second per client), seed (1), symbols (M.DEFAULT_SYMBOLS; what "*"
-- means), bars_every (1 second), auth_timeout (10 seconds), max_symbols (nil: no limit; counts
-- the distinct trades+quotes symbols), max_connections (nil: no limit; authenticated clients),
-- feed ("iex"; the URL path), log (a feedhost.util.log logger or nil).
function M.new(R, opts)
  opts = opts or {}
  local rate = tonumber(opts.rate or 20)
  assert(rate and rate >= 0, "simulator: rate must be a number >= 0")
  local bars_every = tonumber(opts.bars_every or 1)
  assert(bars_every and bars_every > 0, "simulator: bars_every must be > 0")
  return setmetatable({
    R = R,
    host = opts.host or "127.0.0.1",
    port = opts.port or 0,
    feed = opts.feed or "iex",
    key = opts.key or "demo-key",
    secret = opts.secret or "demo-secret",
    rate = rate,
    bars_every = bars_every,
    bars_every_ns = ffi.new("int64_t", floor(bars_every * 1e9 + 0.5)),
    auth_timeout = tonumber(opts.auth_timeout or 10),
    max_symbols = opts.max_symbols,
    max_connections = opts.max_connections,
    log = opts.log,
    market = market.new({ seed = opts.seed, symbols = opts.symbols }),
    buf = buffer.new(4096),
    clients = {},
    order = {},
    order_dirty = false,
    nclients = 0,
    nauth = 0,
    connections = 0,
    sent = 0,
    received = 0,
    data_sent = 0,
    items = 0,
    dropped = 0,
    event_list = {},
    lid = nil,
    listening = false,
    timer = nil,
    next_bar = 0,
    bar_index = nil,
  }, Sim)
end

--- Starts listening (and serving). @return the bound port, or nil and an error message.
function Sim:start()
  if self.listening then
    return self.port
  end
  local lid, port = self.R:listen("ws-server", { host = self.host, port = self.port }, self)
  if not lid then
    return nil, port
  end
  self.lid, self.port = lid, port
  self.listening = true
  self.next_bar = reactor.now() + self.bars_every
  self.timer = self.R:every(TICK, function()
    tick(self)
  end)
  log_at(self, "info", "listening on %s", self:url())
  return self.port
end

function Sim:url()
  return format("ws://%s:%d/v2/%s", self.host, self.port, self.feed)
end

--- Closes every client connection (code 1001 "service restart" unless given; note that lws
-- clients, feedhost's included, report a received 1012..2999 as 1002).
-- @return the number of clients closed
function Sim:drop_all(code, reason)
  local list = ordered_clients(self)
  local n = 0
  for i = 1, #list do
    if not list[i].gone then
      close_client(self, list[i], code or 1001, reason or "service restart")
      n = n + 1
    end
  end
  return n
end

--- Stops serving: drops every client and stops listening (the port is free when it returns).
function Sim:stop(code, reason)
  if self.timer then
    self.timer:cancel()
    self.timer = nil
  end
  self.listening = false
  self:drop_all(code or 1001, reason or "simulator stopped")
  if self.lid then
    self.R:close(self.lid)
    self.lid = nil
  end
end

--- stop() then start() on the same port. @return the port, or nil and an error message.
function Sim:restart()
  self:stop(1001, "service restart")
  return self:start()
end

--- Counters and the union of the clients' subscriptions:
-- { listening, port, clients, authenticated, connections (accepted so far), sent (messages,
--   control included), data_sent (data messages), items (data items), received (client
--   messages), dropped (data messages skipped or refused because the client's send queue was
--   full), trade_id (last), subscriptions =
--   { AAPL = { trades = true, quotes = true, bars = true }, ["*"] = {...} } }
function Sim:stats()
  local subs = {}
  for _, c in pairs(self.clients) do
    for _, ch in ipairs({ "trades", "quotes", "bars" }) do
      for _, s in ipairs(c.subs[ch].list) do
        local e = subs[s]
        if not e then
          e = {}
          subs[s] = e
        end
        e[ch] = true
      end
    end
  end
  return {
    listening = self.listening,
    port = self.port,
    clients = self.nclients,
    authenticated = self.nauth,
    connections = self.connections,
    sent = self.sent,
    data_sent = self.data_sent,
    items = self.items,
    received = self.received,
    dropped = self.dropped,
    trade_id = self.market.trade_id,
    subscriptions = subs,
  }
end

--- The JSON messages clients sent (decoded tables, oldest first; invalid JSON is not listed).
function Sim:events()
  local out = {}
  for i, e in ipairs(self.event_list) do
    out[i] = e
  end
  return out
end

return M
