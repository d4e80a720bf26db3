--- feedhost.data.store: the in-memory data store every record goes into (`store:put(rec)`).
--
-- What it keeps. An asset's key is `asset.symbol` when the record's asset is a table, the string
-- otherwise; every query takes either.
--   per asset   the last trade tick, the latest quote and the latest market depth, OHLCV bars
--               built from ticks at every configured interval, and the bars the exchange sends
--               (`data` records whose `data` has open/high/low/close), kept apart from the built ones
--   orders      by order_id: the latest state and the last `order_history` states
--   positions   by `position_id` when the record gives one, else by asset symbol
--   accounts    the latest record per connection
--   news, trade the last `max_recent` records of each channel
--
-- API (sym: a symbol or an Asset table; interval: seconds; n: how many, default all):
--   M.new(opts)  store:put(rec)  store:roll(now_ns) -> bars closed
--   store:quote(sym)  store:depth(sym) -> depth, ts  store:trade(sym)
--   store:bars(sym, interval, n, {source = "ticks"|"exchange", open = bool}) -> oldest..newest
--   store:bar(sym, interval, {source = ...}) -> the open bar (exchange: the newest)
--   store:order(id)  store:order_history(id)  store:orders{status =, asset =, connection =}
--   store:position(key)  store:positions()  store:account(conn)  store:recent(channel, n)
--   store:assets()  store:stats()
-- A bar: {symbol, interval, source, start (int64 ns), open, high, low, close, volume, ticks
-- (built bars: the number of ticks), closed}.
--
-- Time. Timestamps are epoch nanoseconds: int64 cdata (as records carry them) or plain numbers.
-- Bars are aligned to the UTC clock: a bar of `interval` seconds starts at a multiple of
-- `interval` seconds since the epoch. A bar's `start` is int64 ns. Bars are kept at millisecond
-- resolution (an exchange bar's start is truncated to the millisecond). Intervals without ticks
-- have no bar: no empty bars are made.
--
-- The rule for late and out-of-order ticks. Each asset has a clock: the newest tick timestamp it
-- has seen, or the `now` of the last `store:roll(now)` if that is later. A bar
-- [start, start + interval) is open until the clock reaches start + interval + lateness; then it
-- closes, `on_bar(bar)` is called, and it never changes again.
--   * A tick whose bar is open updates it, in any arrival order: open and close are the prices of
--     the ticks with the earliest and the latest timestamp (equal timestamps: arrival order),
--     high/low/volume/ticks are order-free. A tick of a newer interval starts a new bar.
--   * A tick whose bar has closed (start + interval + lateness <= the clock), or whose bar would
--     be older than the oldest bar of a full ring, is late: counted in `stats().late` and left
--     out of the bars of every interval (so all intervals count the same ticks), never reopening
--     a closed bar.
--   * With the default lateness 0 a bar closes as soon as a tick of a later interval arrives or
--     `roll` passes its end, and any tick older than the open bar is late. `lateness = 2` keeps
--     a bar open 2 s past its end, so ticks that arrive a little out of order across the
--     boundary still count; `roll(now)` then closes it at end + 2 s.
--   * `roll(now)` must be given the ticks' clock (live: the wall clock; a replay: the replay's).
--   * `trade(sym)` is the tick with the latest timestamp (equal: the later arrival), late or not.
-- Exchange bars are stored as sent: one with the start of a kept bar replaces it (exchanges resend
-- a bar when it changes), any other goes in start order; one older than the oldest bar of a full
-- ring is counted in `stats().late_bars` and dropped. Their interval is the record's `interval`
-- (seconds) when the converter sets one, else `exchange_interval`. `on_bar` is not called for them.
-- Quotes, orders, positions and accounts: the latest received wins, except that an order update
-- with an older timestamp than the order's current state only goes into its history.
--
-- Memory is bounded: `max_assets` (a record of a new asset beyond it is dropped and counted),
-- `max_bars` per asset and interval and source (a ring holding the open bars too; its storage
-- grows with use, up to the cap),
-- `max_orders` (beyond it the order that finished first is forgotten, else the oldest),
-- `order_history`, `max_positions`, `max_recent`.
--
-- `put` is the per-record path: it makes no table per record, only one per new asset or order,
-- a bar ring when one grows, and a bar table per closed bar when `on_bar` is set.
-- `on_bar` runs inside `put`/`roll`: it may query the store but must not `put` into it; an error
-- in it is counted (`stats().on_bar_errors`) and logged when `opts.log` is given.
-- The bar rings are feedhost.data.bars, the orders feedhost.data.orders.
local bars = require("feedhost.data.bars")
local orders = require("feedhost.data.orders")

local M = {}

local Store = {}
Store.__index = Store

local floor = math.floor
local HUGE = math.huge
local type, tostring, pairs, error = type, tostring, pairs, error
local ms_of, STRIDE, close_due = bars.ms_of, bars.STRIDE, bars.close_due
local put_tick, put_xbar, put_order = bars.put_tick, bars.put_xbar, orders.put

-- Rough sizes for stats().memory: ring storage is counted exactly (8 bytes a slot); tables are
-- estimated, and so is each record the store holds a reference to.
local EST = { asset = 500, series = 750, order = 380, record = 320, entry = 16 }

local DEFAULTS = {
  intervals = { 60 },
  max_bars = 1440,
  lateness = 0,
  exchange_interval = 60,
  max_assets = 100000,
  max_orders = 100000,
  order_history = 16,
  max_positions = 100000,
  max_recent = 1000,
}

local function key_of(a)
  if type(a) == "table" then
    return a.symbol
  end
  return a
end

local function check_count(opts, name, min)
  local v = opts[name]
  if v == nil then
    return DEFAULTS[name]
  end
  if type(v) ~= "number" or v ~= floor(v) or v < min then
    error(string.format("store: opts.%s must be a whole number >= %d (got %s)", name, min, tostring(v)), 3)
  end
  return v
end

--- Makes a store. opts (all optional):
---   intervals          list of bar intervals in whole seconds ({60})
---   max_bars           bars kept per asset, interval and source (1440)
---   lateness           seconds (ms resolution) a bar stays open past its end (0)
---   exchange_interval  interval of exchange bars whose record has no `interval` (60)
---   max_assets         (100000); max_orders (100000); order_history (16); max_positions
---                      (100000); max_recent news/trade records kept (1000)
---   on_bar             function(bar) called when a bar built from ticks closes
---   log                a feedhost.util.log logger for on_bar errors
---@param opts table|nil
---@return table store
function M.new(opts)
  opts = opts or {}
  local ivs = opts.intervals or DEFAULTS.intervals
  if type(ivs) ~= "table" or #ivs == 0 then
    error("store: opts.intervals must be a non-empty list of seconds", 2)
  end
  local intervals, seen = {}, {}
  for i, iv in ipairs(ivs) do
    if type(iv) ~= "number" or iv ~= floor(iv) or iv < 1 then
      error(string.format("store: opts.intervals[%d] must be a whole number of seconds >= 1 (got %s)",
        i, tostring(iv)), 2)
    end
    if not seen[iv] then
      seen[iv] = true
      intervals[#intervals + 1] = iv
    end
  end
  table.sort(intervals)
  local lateness = opts.lateness or DEFAULTS.lateness
  if type(lateness) ~= "number" or lateness < 0 then
    error("store: opts.lateness must be a number of seconds >= 0", 2)
  end
  if opts.on_bar ~= nil and type(opts.on_bar) ~= "function" then
    error("store: opts.on_bar must be a function", 2)
  end
  local ivms, iv_index = {}, {}
  for i, iv in ipairs(intervals) do
    ivms[i] = iv * 1000
    iv_index[iv] = i
  end
  local xiv = opts.exchange_interval or DEFAULTS.exchange_interval
  if type(xiv) ~= "number" or xiv <= 0 then
    error("store: opts.exchange_interval must be a number of seconds > 0", 2)
  end
  return setmetatable({
    intervals = intervals, ivms = ivms, iv_index = iv_index, nintervals = #intervals,
    lateness_ms = floor(lateness * 1000 + 0.5),
    exchange_interval = xiv,
    max_bars = check_count(opts, "max_bars", 1),
    max_assets = check_count(opts, "max_assets", 0),
    max_orders = check_count(opts, "max_orders", 1),
    history_len = check_count(opts, "order_history", 1),
    max_positions = check_count(opts, "max_positions", 0),
    max_recent = check_count(opts, "max_recent", 0),
    on_bar = opts.on_bar, log = opts.log,
    by_sym = {}, nassets = 0,
    now = -HUGE,        -- ms: the latest roll(now)
    next_close = HUGE,  -- ms: no open bar closes before this
    order_map = {}, norders = 0, order_seq = 0,
    seen_q = { head = 1, tail = 0 }, done_q = { head = 1, tail = 0 },
    position_map = {}, npositions = 0,
    accounts = {}, last_account = false,
    recent_map = {},
    -- counters
    records = 0, channels = {}, ticks = 0, late = 0, late_bars = 0, bars_closed = 0,
    dropped = 0, dropped_assets = 0, orders_evicted = 0, on_bar_errors = 0, last_error = false,
  }, Store)
end

------------------------------------------------------------------------------------------------
-- Filing records

local function asset_of(self, asset)
  local key = key_of(asset)
  if key == nil then
    return nil
  end
  local a = self.by_sym[key]
  if a then
    return a
  end
  if self.nassets >= self.max_assets then
    self.dropped_assets = self.dropped_assets + 1
    return nil
  end
  a = { symbol = key, trade = false, trade_t = -HUGE, clock = -HUGE, quote = false, depth = false,
    depth_ts = false, series = false, xseries = false }
  self.by_sym[key] = a
  self.nassets = self.nassets + 1
  return a
end

local function put_recent(self, ch, r)
  local cap = self.max_recent
  if cap == 0 then
    return
  end
  local q = self.recent_map[ch]
  if not q then
    q = { n = 0 }
    self.recent_map[ch] = q
  end
  local n = q.n + 1
  q[(n - 1) % cap + 1] = r
  q.n = n
end

--- Files one record (the host's sink, called for every record).
---@param r table a record
function Store:put(r)
  self.records = self.records + 1
  local ch = r.channel or "unknown"
  local counts = self.channels
  counts[ch] = (counts[ch] or 0) + 1
  if ch == "data" then
    local a = asset_of(self, r.asset)
    local d = r.data
    if not a or type(d) ~= "table" then
      self.dropped = self.dropped + 1
      return
    end
    local price = d.price
    if price ~= nil then
      return put_tick(self, a, r, price, d.volume or 0)
    elseif d.close ~= nil then
      return put_xbar(self, a, r, d)
    end
    self.dropped = self.dropped + 1
  elseif ch == "quote" then
    local a = asset_of(self, r.asset)
    if not a then
      self.dropped = self.dropped + 1
      return
    end
    a.quote = r
    local md = r.market_depth
    if md ~= nil then
      a.depth, a.depth_ts = md, r.timestamp
    end
  elseif ch == "order" then
    put_order(self, r)
  elseif ch == "position" then
    local key = r.position_id
    if key == nil then
      key = key_of(r.asset)
    end
    if key == nil then
      self.dropped = self.dropped + 1
      return
    end
    local p = self.position_map
    if p[key] == nil then
      if self.npositions >= self.max_positions then
        self.dropped = self.dropped + 1
        return
      end
      self.npositions = self.npositions + 1
    end
    p[key] = r
  elseif ch == "account" then
    self.accounts[r.connection or ""] = r
    self.last_account = r
  elseif ch == "news" or ch == "trade" then
    put_recent(self, ch, r)
  end
end

--- Closes every bar whose end + lateness is at or before `now` (the ticks' clock); later ticks
--- for those bars are late. Meant for a timer (e.g. every second).
---@param now any epoch ns, int64 cdata or number
---@return integer bars closed
function Store:roll(now)
  local ms = ms_of(now)
  if ms == nil then
    error("store:roll: now must be epoch nanoseconds (int64 cdata or number)", 2)
  end
  if ms > self.now then
    self.now = ms
  end
  local clock = self.now
  if clock < self.next_close then
    return 0
  end
  local before, next_close = self.bars_closed, HUGE
  for _, a in pairs(self.by_sym) do
    local series = a.series
    if series then
      for i = 1, #series do
        local s = series[i]
        if s.close_at <= clock then
          close_due(self, s, clock)
        end
        if s.close_at < next_close then
          next_close = s.close_at
        end
      end
    end
  end
  self.next_close = next_close
  return self.bars_closed - before
end

------------------------------------------------------------------------------------------------
-- Queries

local function asset(self, sym)
  local k = key_of(sym)
  return k ~= nil and self.by_sym[k] or nil
end

--- The latest quote record of an asset (symbol or Asset), or nil.
function Store:quote(sym)
  local a = asset(self, sym)
  return a and a.quote or nil
end

--- The latest market depth ({bids = {{px, qty}...}, asks = ...}) any quote carried, and that
--- quote's timestamp; nil when none did.
function Store:depth(sym)
  local a = asset(self, sym)
  if a and a.depth then
    return a.depth, a.depth_ts
  end
  return nil
end

--- The last trade tick (the `data` record with the latest timestamp), or nil.
function Store:trade(sym)
  local a = asset(self, sym)
  return a and a.trade or nil
end

--- Bars of an asset, oldest first: the last `n` (default: all kept) closed bars, and the open
--- ones too with `opts.open`. opts.source: "ticks" (default: built from ticks) or "exchange"
--- (as the exchange sent them; all count as closed). interval: seconds (default: the first
--- configured interval, or exchange_interval). A bar: {symbol, interval, source, start (int64 ns),
--- open, high, low, close, volume, ticks (built bars), closed}.
---@return table list
function Store:bars(sym, interval, n, opts)
  return bars.bars(self, bars.series_of(self, asset(self, sym), interval, opts and opts.source, "bars"), n, opts)
end

--- The current bar: the newest open bar built from ticks (nil when none is open), or with
--- opts.source = "exchange" the newest exchange bar.
function Store:bar(sym, interval, opts)
  return bars.bar(bars.series_of(self, asset(self, sym), interval, opts and opts.source, "bar"))
end

--- The latest state (record) of an order, or nil.
function Store:order(id)
  return orders.order(self, id)
end

--- An order's last `order_history` states as received, oldest first (empty if unknown).
function Store:order_history(id)
  return orders.history(self, id)
end

--- Latest states of the orders that match `filter` ({status =, asset = symbol, connection =},
--- each optional), in the order first seen.
function Store:orders(filter)
  return orders.list(self, filter, key_of)
end

--- The latest position record for a key (position_id, or the asset symbol), or nil.
function Store:position(key)
  local k = key_of(key)
  return k ~= nil and self.position_map[k] or nil
end

--- Every position: a table key -> latest record (a copy; changing it leaves the store alone).
function Store:positions()
  local out = {}
  for k, r in pairs(self.position_map) do
    out[k] = r
  end
  return out
end

--- The latest account record of a connection; without one, the latest of any connection.
function Store:account(conn)
  if conn == nil then
    return self.last_account or nil
  end
  return self.accounts[conn]
end

--- The last `n` (default: all kept) records of channel "news" or "trade", oldest first.
function Store:recent(channel, n)
  local q = self.recent_map[channel]
  local out = {}
  if not q then
    return out
  end
  local cap = self.max_recent
  local first = q.n - cap + 1
  if n and q.n - n + 1 > first then
    first = q.n - n + 1
  end
  if first < 1 then
    first = 1
  end
  for k = first, q.n do
    out[#out + 1] = q[(k - 1) % cap + 1]
  end
  return out
end

--- The symbols the store has data for, sorted.
function Store:assets()
  local out = {}
  for k in pairs(self.by_sym) do
    out[#out + 1] = k
  end
  table.sort(out, function(x, y) return tostring(x) < tostring(y) end)
  return out
end

--- Counters and sizes:
---   records, channels (records per channel), ticks (filed into bars or late), late (ticks),
---   late_bars (exchange bars), bars_closed, dropped (records not filed: no asset key or
---   timestamp, a cap reached, ...), dropped_assets (of those: new assets past max_assets),
---   assets, orders, orders_evicted, positions, bars (kept), bars_open, on_bar_errors,
---   last_error, memory (bytes, an estimate: ring storage exactly, tables and the records the
---   store holds approximately).
function Store:stats()
  local bars, open, ring, nseries, nrec = 0, 0, 0, 0, 0
  local function count(s)
    bars = bars + s.n
    open = open + s.nopen
    ring = ring + s.size * STRIDE * 8
    nseries = nseries + 1
  end
  for _, a in pairs(self.by_sym) do
    if a.series then
      for i = 1, #a.series do
        count(a.series[i])
      end
    end
    if a.xseries then
      for _, s in pairs(a.xseries) do
        count(s)
      end
    end
    nrec = nrec + (a.trade and 1 or 0) + (a.quote and 1 or 0)
  end
  local nhist = 0
  for _, o in pairs(self.order_map) do
    nhist = nhist + (o.nh < self.history_len and o.nh or self.history_len)
  end
  for _, q in pairs(self.recent_map) do
    nrec = nrec + (q.n < self.max_recent and q.n or self.max_recent)
  end
  nrec = nrec + nhist + self.npositions
  local ch = {}
  for k, v in pairs(self.channels) do
    ch[k] = v
  end
  return {
    records = self.records, channels = ch, ticks = self.ticks, late = self.late,
    late_bars = self.late_bars, bars_closed = self.bars_closed, dropped = self.dropped,
    dropped_assets = self.dropped_assets, assets = self.nassets, orders = self.norders,
    orders_evicted = self.orders_evicted, positions = self.npositions, bars = bars,
    bars_open = open, on_bar_errors = self.on_bar_errors, last_error = self.last_error or nil,
    memory = ring + nseries * EST.series + self.nassets * EST.asset + self.norders * EST.order
      + nhist * EST.entry + nrec * EST.record,
  }
end

return M
