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
local M = {}

local Store = {}
Store.__index = Store

local floor = math.floor
local HUGE = math.huge
local type, tonumber, tostring, pairs, error = type, tonumber, tostring, pairs, error

local ffi = require("ffi")

local MS = 1000000LL -- ns per ms
local NS_PER_MS = 1000000

-- A bar ring is one flat array of doubles, STRIDE per bar: start (epoch ms), open, high, low,
-- close, volume, ticks. Slot i (0-based) is b[i * STRIDE + 1 .. i * STRIDE + STRIDE] (b[0] is
-- unused). An FFI array, not a Lua table: the garbage collector never scans it (a full
-- collection with 7.2M bars kept takes ~3 ms instead of ~45 ms), and it is sized exactly.
local STRIDE = 7
local doubles = ffi.typeof("double[?]")
local FIRST_SIZE = 4 -- bars allocated at first; the ring grows x4 up to max_bars

local TERMINAL = { complete = true, cancelled = true, rejected = true }

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

-- An order id as a table key: numbers and int64 ids read as their digits.
local function order_key(id)
  local t = type(id)
  if t == "string" then
    return id
  elseif t == "number" then
    if id == floor(id) and id > -1e18 and id < 1e18 then
      return string.format("%d", id)
    end
    return tostring(id)
  elseif t == "cdata" then
    return (tostring(id):gsub("U?LL$", ""))
  end
  return nil
end

--- Epoch ms (floored) and a number for ordering, of a timestamp in ns (int64 cdata or number).
local function ms_of(ts)
  if type(ts) == "cdata" then
    local q = ts / MS -- int64 division truncates toward zero: floor it for times before 1970
    if ts < 0 and q * MS ~= ts then
      q = q - 1
    end
    return tonumber(q), tonumber(ts)
  elseif type(ts) == "number" then
    return floor(ts / NS_PER_MS), ts
  end
  return nil, nil
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
-- Bar rings

local function new_series(self, sym, iv, source)
  local size = self.max_bars < FIRST_SIZE and self.max_bars or FIRST_SIZE
  return {
    sym = sym, iv = iv, ivms = iv * 1000, source = source,
    b = doubles(size * STRIDE + 1), size = size, cap = self.max_bars,
    head = 0,  -- slot of the oldest bar
    n = 0,     -- bars kept
    nb = 0,    -- base index of the newest bar's slot
    nopen = 0, -- the newest nopen bars are open (ticks only)
    ft = {}, lt = {}, -- per open bar, oldest first: the earliest and latest tick time seen
    close_at = HUGE,  -- ms: when the oldest open bar closes
  }
end

-- Base index of the bar at position pos (0 = oldest).
local function slot_base(s, pos)
  return ((s.head + pos) % s.size) * STRIDE
end

local function grow(s)
  local size = s.size * 4
  if size > s.cap then
    size = s.cap
  end
  local nb = doubles(size * STRIDE + 1)
  ffi.copy(nb, s.b, (s.n * STRIDE + 1) * 8) -- the ring has not wrapped (head is 0) while it grows
  s.b, s.size = nb, size
end

local function make_bar(s, base, open)
  local b = s.b
  return {
    symbol = s.sym, interval = s.iv, source = s.source, start = b[base + 1] * MS,
    open = b[base + 2], high = b[base + 3], low = b[base + 4], close = b[base + 5],
    volume = b[base + 6], ticks = s.source == "ticks" and b[base + 7] or nil, closed = not open,
  }
end

local function report(self, err)
  self.on_bar_errors = self.on_bar_errors + 1
  self.last_error = tostring(err)
  if self.log then
    self.log:event("warning", "store.on_bar", "store: on_bar failed: " .. tostring(err))
  end
end

-- Closes the oldest open bar of s and calls on_bar with it.
local function close_oldest(self, s)
  local nopen = s.nopen
  local pos = s.n - nopen
  local ft, lt = s.ft, s.lt
  for k = 1, nopen - 1 do
    ft[k] = ft[k + 1]
    lt[k] = lt[k + 1]
  end
  ft[nopen], lt[nopen] = nil, nil
  nopen = nopen - 1
  s.nopen = nopen
  if nopen > 0 then
    s.close_at = s.b[slot_base(s, pos + 1) + 1] + s.ivms + self.lateness_ms
  else
    s.close_at = HUGE
  end
  self.bars_closed = self.bars_closed + 1
  local f = self.on_bar
  if f then
    local ok, err = pcall(f, make_bar(s, slot_base(s, pos), false))
    if not ok then
      report(self, err)
    end
  end
end

local function close_due(self, s, clock)
  while s.nopen > 0 and s.close_at <= clock do
    close_oldest(self, s)
  end
end

-- Makes room for a bar after the newest and returns its base index. A full ring drops its oldest
-- bar (closing it first if it is still open).
local function push(self, s)
  local n, size = s.n, s.size
  if n == size then
    if size < s.cap then
      grow(s)
      size = s.size
    else
      if s.nopen == n then
        close_oldest(self, s)
      end
      s.head = (s.head + 1) % size
      n = n - 1
    end
  end
  local base = ((s.head + n) % size) * STRIDE
  s.n = n + 1
  s.nb = base
  return base
end

-- Makes room for a bar at position pos (0 = oldest; the caller made sure a full ring keeps it)
-- and returns its base index and whether an open bar was dropped to make room.
local function insert_slot(self, s, pos)
  local n0, open0 = s.n, s.nopen
  push(self, s)
  if s.n == n0 then -- the oldest bar went
    pos = pos - 1
  end
  local b = s.b
  for k = s.n - 1, pos + 1, -1 do
    local to, from = slot_base(s, k), slot_base(s, k - 1)
    for i = 1, STRIDE do
      b[to + i] = b[from + i]
    end
  end
  return slot_base(s, pos), s.nopen < open0
end

-- Writes a new open bar at base as open bar number j (1 = oldest open).
local function new_bar(self, s, base, j, start, price, vol, t)
  local b = s.b
  b[base + 1], b[base + 2], b[base + 3], b[base + 4] = start, price, price, price
  b[base + 5], b[base + 6], b[base + 7] = price, vol, 1
  local ft, lt, nopen = s.ft, s.lt, s.nopen
  for k = nopen, j, -1 do
    ft[k + 1] = ft[k]
    lt[k + 1] = lt[k]
  end
  ft[j], lt[j] = t, t
  s.nopen = nopen + 1
  local at = start + s.ivms + self.lateness_ms
  if j == 1 then
    s.close_at = at
  end
  if at < self.next_close then
    self.next_close = at
  end
end

local function add_tick(b, base, ft, lt, j, price, vol, t)
  if price > b[base + 3] then
    b[base + 3] = price
  end
  if price < b[base + 4] then
    b[base + 4] = price
  end
  b[base + 6] = b[base + 6] + vol
  b[base + 7] = b[base + 7] + 1
  if t < ft[j] then
    ft[j] = t
    b[base + 2] = price
  end
  if t >= lt[j] then
    lt[j] = t
    b[base + 5] = price
  end
end

-- A tick for a bar older than the newest: an open bar's, or a new one among the open bars.
local function tick_older(self, s, start, price, vol, t)
  local b, n, nopen = s.b, s.n, s.nopen
  for j = nopen, 1, -1 do
    local base = slot_base(s, n - nopen + j - 1)
    local st = b[base + 1]
    if st == start then
      add_tick(b, base, s.ft, s.lt, j, price, vol, t)
      return
    elseif st < start then
      local nbase, dropped_open = insert_slot(self, s, n - nopen + j)
      new_bar(self, s, nbase, dropped_open and j or j + 1, start, price, vol, t)
      return
    end
  end
  -- before every open bar (the late check made sure a full ring keeps it, so no open bar goes)
  new_bar(self, s, (insert_slot(self, s, n - nopen)), 1, start, price, vol, t)
end

local function tick_series(self, s, start, price, vol, t)
  if s.n > 0 then
    local b, nb = s.b, s.nb
    local newest = b[nb + 1]
    if start == newest then -- the common case: the newest bar, open (else the tick was late)
      add_tick(b, nb, s.ft, s.lt, s.nopen, price, vol, t)
      return
    elseif start < newest then
      return tick_older(self, s, start, price, vol, t)
    end
  end
  local base = push(self, s)
  new_bar(self, s, base, s.nopen + 1, start, price, vol, t)
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

local function put_tick(self, a, r, price, vol)
  local ms, t = ms_of(r.timestamp)
  if ms == nil or type(price) ~= "number" or type(vol) ~= "number" then
    self.dropped = self.dropped + 1
    return
  end
  self.ticks = self.ticks + 1
  if t >= a.trade_t then
    a.trade, a.trade_t = r, t
  end
  local series = a.series
  if not series then
    series = {}
    for i = 1, self.nintervals do
      series[i] = new_series(self, a.symbol, self.intervals[i], "ticks")
    end
    a.series = series
  end
  local clock = a.clock
  if self.now > clock then
    clock = self.now
  end
  local ivms, lms, nser = self.ivms, self.lateness_ms, self.nintervals
  for i = 1, nser do -- late for one interval: late for all
    local iv = ivms[i]
    local start = ms - ms % iv
    if start + iv + lms <= clock then
      self.late = self.late + 1
      return
    end
    local s = series[i]
    if s.n == s.cap and start < s.b[s.nb + 1] and start < s.b[s.head * STRIDE + 1] then
      self.late = self.late + 1
      return
    end
  end
  for i = 1, nser do
    local iv = ivms[i]
    tick_series(self, series[i], ms - ms % iv, price, vol, t)
  end
  if ms > a.clock then
    a.clock = ms
    if ms > clock then
      clock = ms
    end
    for i = 1, nser do
      local s = series[i]
      if s.close_at <= clock then
        close_due(self, s, clock)
      end
    end
  end
end

local function put_xbar(self, a, r, d)
  local ms = ms_of(r.timestamp)
  local close = d.close
  if ms == nil or type(close) ~= "number" then
    self.dropped = self.dropped + 1
    return
  end
  local iv = r.interval
  if type(iv) ~= "number" or iv <= 0 then
    iv = self.exchange_interval
  end
  local xs = a.xseries
  if not xs then
    xs = {}
    a.xseries = xs
  end
  local s = xs[iv]
  if not s then
    s = new_series(self, a.symbol, iv, "exchange")
    xs[iv] = s
  end
  local base
  if s.n == 0 or ms > s.b[s.nb + 1] then
    base = push(self, s)
  else
    local b = s.b
    local pos, st = s.n - 1, nil
    while pos >= 0 do
      base = slot_base(s, pos)
      st = b[base + 1]
      if st <= ms then
        break
      end
      pos = pos - 1
    end
    if pos < 0 or st ~= ms then
      if pos < 0 and s.n == s.cap then
        self.late_bars = self.late_bars + 1
        return
      end
      base = insert_slot(self, s, pos + 1)
    end
  end
  local b = s.b
  local vol = d.volume
  b[base + 1], b[base + 2], b[base + 3] = ms, d.open or close, d.high or close
  b[base + 4], b[base + 5], b[base + 6], b[base + 7] = d.low or close, close,
    type(vol) == "number" and vol or 0, 0
end

local function queue_push(q, id, seq)
  local tail = q.tail + 1
  q.tail = tail
  q[tail] = id
  q[-tail] = seq -- the entry is valid while the order still carries this seq
end

-- An entry of the seen queue is valid while its order still carries its seq; one of the done
-- queue while the order still finished at that seq.
local function seen_valid(orders, id, seq)
  local o = orders[id]
  return o ~= nil and o.seq == seq
end

local function done_valid(orders, id, seq)
  local o = orders[id]
  return o ~= nil and o.done == seq
end

-- Drops stale entries once the queue holds more than `limit`.
local function queue_compact(q, limit, valid, orders)
  if q.tail - q.head + 1 <= limit then
    return
  end
  local ids, seqs, n = {}, {}, 0
  for i = q.head, q.tail do
    if valid(orders, q[i], q[-i]) then
      n = n + 1
      ids[n], seqs[n] = q[i], q[-i]
    end
    q[i], q[-i] = nil, nil
  end
  for i = 1, n do
    q[i], q[-i] = ids[i], seqs[i]
  end
  q.head, q.tail = 1, n
end

-- Pops entries until a valid one; returns its id or nil.
local function queue_pop(q, valid, orders)
  while q.head <= q.tail do
    local i = q.head
    local id, seq = q[i], q[-i]
    q[i], q[-i] = nil, nil
    q.head = i + 1
    if valid(orders, id, seq) then
      return id
    end
  end
  q.head, q.tail = 1, 0
  return nil
end

local function evict_order(self)
  local orders = self.order_map
  local id = queue_pop(self.done_q, done_valid, orders) or queue_pop(self.seen_q, seen_valid, orders)
  if id then
    orders[id] = nil
    self.norders = self.norders - 1
    self.orders_evicted = self.orders_evicted + 1
  end
end

local function is_time(v)
  local t = type(v)
  return t == "number" or t == "cdata"
end

-- Whether timestamp a is before b (false when either is missing or not a time).
local function is_older(a, b)
  return is_time(a) and is_time(b) and a < b
end

local function put_order(self, r)
  local id = order_key(r.order_id)
  if id == nil then
    self.dropped = self.dropped + 1
    return
  end
  local orders = self.order_map
  local o = orders[id]
  if not o then
    if self.norders >= self.max_orders then
      evict_order(self)
    end
    self.order_seq = self.order_seq + 1
    o = { latest = r, seq = self.order_seq, done = false, hist = {}, nh = 0 }
    orders[id] = o
    self.norders = self.norders + 1
    queue_push(self.seen_q, id, o.seq)
    queue_compact(self.seen_q, 2 * self.max_orders + 64, seen_valid, orders)
  elseif not is_older(r.timestamp, o.latest.timestamp) then
    o.latest = r
  end
  local h, nh = o.hist, o.nh + 1
  h[(nh - 1) % self.history_len + 1] = r
  o.nh = nh
  local terminal = TERMINAL[o.latest.status] == true
  if terminal and not o.done then
    self.order_seq = self.order_seq + 1
    o.done = self.order_seq
    queue_push(self.done_q, id, o.done)
    queue_compact(self.done_q, 2 * self.max_orders + 64, done_valid, orders)
  elseif not terminal then
    o.done = false
  end
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

-- The series for (sym, interval, source) or nil; raises on an interval the store does not build.
local function series_of(self, sym, interval, source, what)
  source = source or "ticks"
  local a = asset(self, sym)
  if source == "ticks" then
    interval = interval or self.intervals[1]
    local i = self.iv_index[interval]
    if not i then
      error(string.format("store:%s: interval %s is not one of the configured intervals (%s)", what,
        tostring(interval), table.concat(self.intervals, ", ")), 3)
    end
    return a and a.series and a.series[i] or nil
  elseif source == "exchange" then
    interval = interval or self.exchange_interval
    return a and a.xseries and a.xseries[interval] or nil
  end
  error(string.format("store:%s: source must be 'ticks' or 'exchange' (got %s)", what, tostring(source)), 3)
end

--- Bars of an asset, oldest first: the last `n` (default: all kept) closed bars, and the open
--- ones too with `opts.open`. opts.source: "ticks" (default: built from ticks) or "exchange"
--- (as the exchange sent them; all count as closed). interval: seconds (default: the first
--- configured interval, or exchange_interval). A bar: {symbol, interval, source, start (int64 ns),
--- open, high, low, close, volume, ticks (built bars), closed}.
---@return table list
function Store:bars(sym, interval, n, opts)
  local s = series_of(self, sym, interval, opts and opts.source, "bars")
  local out = {}
  if not s then
    return out
  end
  local upto = s.n
  if not (opts and opts.open) then
    upto = upto - s.nopen
  end
  local from = 0
  if n and n < upto then
    from = upto - n
  end
  for pos = from, upto - 1 do
    out[#out + 1] = make_bar(s, slot_base(s, pos), pos >= s.n - s.nopen)
  end
  return out
end

--- The current bar: the newest open bar built from ticks (nil when none is open), or with
--- opts.source = "exchange" the newest exchange bar.
function Store:bar(sym, interval, opts)
  local s = series_of(self, sym, interval, opts and opts.source, "bar")
  if not s or s.n == 0 then
    return nil
  end
  if s.source == "ticks" then
    if s.nopen == 0 then
      return nil
    end
    return make_bar(s, s.nb, true)
  end
  return make_bar(s, s.nb, false)
end

--- The latest state (record) of an order, or nil.
function Store:order(id)
  local o = self.order_map[order_key(id)]
  return o and o.latest or nil
end

--- An order's last `order_history` states as received, oldest first (empty if unknown).
function Store:order_history(id)
  local o = self.order_map[order_key(id)]
  local out = {}
  if o then
    local cap = self.history_len
    local first = o.nh - cap + 1
    if first < 1 then
      first = 1
    end
    for k = first, o.nh do
      out[#out + 1] = o.hist[(k - 1) % cap + 1]
    end
  end
  return out
end

--- Latest states of the orders that match `filter` ({status =, asset = symbol, connection =},
--- each optional), in the order first seen.
function Store:orders(filter)
  local status = filter and filter.status
  local sym = filter and key_of(filter.asset)
  local conn = filter and filter.connection
  local list = {}
  for _, o in pairs(self.order_map) do
    local r = o.latest
    if (status == nil or r.status == status) and (sym == nil or key_of(r.asset) == sym)
      and (conn == nil or r.connection == conn) then
      list[#list + 1] = o
    end
  end
  table.sort(list, function(x, y) return x.seq < y.seq end)
  for i = 1, #list do
    list[i] = list[i].latest
  end
  return list
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
