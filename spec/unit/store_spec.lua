-- feedhost.data.store: every query, bars built from ticks (OHLCV, clock alignment, the late and
-- out-of-order rule, roll and on_bar), exchange bars kept apart, ring bounds, orders with their
-- history, positions, accounts, the caps, and the real records of the specs' fixtures.
local storemod = require("feedhost.data.store")

local NS = 1000000000LL
local T0 = 1614009060LL * NS -- 2021-02-22T15:51:00Z, a multiple of 60 s (and of 300 s: no)

local function tick(store, sym, ts, price, volume)
  store:put({ channel = "data", connection = "market_data", asset = sym, timestamp = ts,
    data = { price = price, volume = volume } })
end

local function xbar(store, sym, ts, o, h, l, c, v, interval)
  store:put({ channel = "data", connection = "market_data", asset = sym, timestamp = ts,
    interval = interval, data = { open = o, high = h, low = l, close = c, volume = v } })
end

-- {open, high, low, close, volume} of a bar, to compare in one assertion
local function ohlcv(b)
  return { b.open, b.high, b.low, b.close, b.volume }
end

local function starts(bars)
  local out = {}
  for i, b in ipairs(bars) do
    out[i] = tonumber((b.start - T0) / NS) -- seconds after T0
  end
  return out
end

describe("feedhost.data.store", function()
  describe("bars from ticks", function()
    it("aggregates OHLCV exactly, with an int64 ns start, and closes on a later interval", function()
      local closed = {}
      local s = storemod.new({ on_bar = function(b) closed[#closed + 1] = b end })
      tick(s, { symbol = "AAPL" }, T0 + 1 * NS, 100.5, 1)
      tick(s, { symbol = "AAPL" }, T0 + 10 * NS, 105.25, 2)
      tick(s, { symbol = "AAPL" }, T0 + 20 * NS, 99.75, 3)
      tick(s, { symbol = "AAPL" }, T0 + 60 * NS - 1, 101, 4) -- the last ns of the minute
      local b = s:bar("AAPL", 60)
      assert.same({ 100.5, 105.25, 99.75, 101, 10 }, ohlcv(b))
      assert.equal(4, b.ticks)
      assert.equal("cdata", type(b.start))
      assert.is_true(b.start == T0)
      assert.same({ symbol = "AAPL", interval = 60, source = "ticks", closed = false },
        { symbol = b.symbol, interval = b.interval, source = b.source, closed = b.closed })
      assert.same({}, s:bars("AAPL", 60)) -- nothing closed yet
      assert.equal(0, #closed)

      tick(s, "AAPL", T0 + 60 * NS, 102, 5) -- the first ns of the next minute
      assert.equal(1, #closed)
      assert.same({ 100.5, 105.25, 99.75, 101, 10 }, ohlcv(closed[1]))
      assert.is_true(closed[1].closed)
      local bars = s:bars("AAPL", 60)
      assert.equal(1, #bars)
      assert.same(ohlcv(closed[1]), ohlcv(bars[1]))
      local with_open = s:bars("AAPL", 60, nil, { open = true })
      assert.same({ 0, 60 }, starts(with_open))
      assert.same({ 102, 102, 102, 102, 5 }, ohlcv(with_open[2]))
      assert.is_false(with_open[2].closed)
    end)

    it("aligns bars to UTC multiples of each interval, exactly at the ns boundary", function()
      local s = storemod.new({ intervals = { 300, 60, 3600 } })
      local ts = 1614009091549573131LL -- 2021-02-22T15:51:31.549573131Z
      tick(s, "X", ts, 1, 1)
      assert.is_true(s:bar("X", 60).start == 1614009060LL * NS)
      assert.is_true(s:bar("X", 300).start == 1614009000LL * NS)
      assert.is_true(s:bar("X", 3600).start == 1614006000LL * NS)
      assert.same({ 60, 300, 3600 }, s.intervals) -- sorted
      -- 1 ns before a minute (a double would round it up to the minute) and the minute itself
      local y = storemod.new()
      tick(y, "Y", 1614009119999999999LL, 1, 1)
      assert.is_true(y:bar("Y").start == 1614009060LL * NS)
      tick(y, "Y", 1614009120000000000LL, 2, 1)
      assert.is_true(y:bar("Y").start == 1614009120LL * NS)
      assert.is_true(y:bars("Y")[1].start == 1614009060LL * NS)
    end)

    it("takes timestamps as plain numbers of ns as well as int64 cdata", function()
      local s = storemod.new()
      tick(s, "N", 61e9, 10, 1)
      tick(s, "N", 65e9, 12, 1)
      tick(s, "N", 119.5e9, 11, 2)
      tick(s, "N", 120e9, 9, 1)
      local b = s:bars("N")[1]
      assert.is_true(b.start == 60LL * NS)
      assert.same({ 10, 12, 10, 11, 4 }, ohlcv(b))
      assert.is_true(s:bar("N").start == 120LL * NS)
      -- an epoch-ns double as a converter might produce it
      tick(s, "M", 1614009091.5e9, 3, 1)
      assert.is_true(s:bar("M").start == 1614009060LL * NS)
      -- mixed in one asset: int64 then number
      tick(s, "Z", T0 + 5 * NS, 1, 1)
      tick(s, "Z", tonumber(T0) + 7e9, 2, 1)
      assert.same({ 1, 2, 1, 2, 2 }, ohlcv(s:bar("Z")))
    end)

    it("makes no bar for an interval without ticks", function()
      local s = storemod.new()
      tick(s, "G", T0 + 1 * NS, 1, 1)
      tick(s, "G", T0 + 185 * NS, 2, 1)
      assert.same({ 0, 180 }, starts(s:bars("G", 60, nil, { open = true })))
    end)

    it("builds every configured interval from the same ticks", function()
      local s = storemod.new({ intervals = { 60, 300 } })
      local base = 1614009000LL * NS -- a multiple of 300 s
      for i = 0, 9 do -- one tick every 30 s for 5 minutes
        tick(s, "B", base + i * 30 * NS, 100 + i, 1)
      end
      tick(s, "B", base + 300 * NS, 50, 1)
      local m1 = s:bars("B", 60)
      assert.equal(5, #m1)
      assert.same({ 100, 101, 100, 101, 2 }, ohlcv(m1[1]))
      assert.same({ 108, 109, 108, 109, 2 }, ohlcv(m1[5]))
      local m5 = s:bars("B", 300)
      assert.equal(1, #m5)
      assert.same({ 100, 109, 100, 109, 10 }, ohlcv(m5[1]))
      assert.equal(10, m5[1].ticks)
    end)

    it("defaults the interval to the first configured one and raises on another", function()
      local s = storemod.new({ intervals = { 300, 60 } })
      tick(s, "A", T0, 1, 1)
      assert.equal(60, s:bar("A").interval)
      assert.has_error(function() s:bars("A", 15) end,
        "store:bars: interval 15 is not one of the configured intervals (60, 300)")
      assert.has_error(function() s:bar("A", 60, { source = "other" }) end)
    end)
  end)

  describe("late and out-of-order ticks", function()
    it("orders open and close by timestamp within an open bar; equal times by arrival", function()
      local s = storemod.new()
      tick(s, "O", T0 + 30 * NS, 3, 1)
      tick(s, "O", T0 + 10 * NS, 1, 1) -- earlier: the new open
      tick(s, "O", T0 + 50 * NS, 5, 1)
      tick(s, "O", T0 + 40 * NS, 4, 1) -- not the latest: close stays 5
      assert.same({ 1, 5, 1, 5, 4 }, ohlcv(s:bar("O")))
      tick(s, "O", T0 + 50 * NS, 6, 1) -- same time as the close: the later arrival wins
      tick(s, "O", T0 + 10 * NS, 7, 1) -- same time as the open: the first arrival stays
      assert.same({ 1, 7, 1, 6, 6 }, ohlcv(s:bar("O")))
      assert.equal(0, s:stats().late)
    end)

    it("counts a tick for a closed bar as late and drops it (lateness 0)", function()
      local closed = {}
      local s = storemod.new({ on_bar = function(b) closed[#closed + 1] = b end })
      tick(s, "L", T0 + 10 * NS, 10, 1)
      tick(s, "L", T0 + 70 * NS, 20, 1) -- closes [0, 60)
      tick(s, "L", T0 + 50 * NS, 99, 7) -- its bar is closed: late
      tick(s, "L", T0 - 5 * NS, 99, 7)  -- older still: late
      local st = s:stats()
      assert.equal(2, st.late)
      assert.equal(4, st.ticks)
      assert.same({ 10, 10, 10, 10, 1 }, ohlcv(s:bars("L")[1]))
      assert.same({ 20, 20, 20, 20, 1 }, ohlcv(s:bar("L")))
      assert.equal(1, #closed)
      -- a late tick is still a trade; trade() keeps the latest by timestamp
      assert.equal(20, s:trade("L").data.price)
    end)

    it("keeps a bar open for `lateness` seconds past its end", function()
      local closed = {}
      local s = storemod.new({ lateness = 2, on_bar = function(b) closed[#closed + 1] = b end })
      tick(s, "P", T0 + 30 * NS, 10, 1)
      tick(s, "P", T0 + 61 * NS, 20, 1)  -- [60, 120) opens; [0, 60) stays open until 62 s
      tick(s, "P", T0 + 59 * NS, 11, 1)  -- counts in [0, 60): its close
      assert.equal(0, #closed)
      assert.same({ 0, 60 }, starts(s:bars("P", 60, nil, { open = true })))
      assert.same({}, s:bars("P"))
      assert.same({ 20, 20, 20, 20, 1 }, ohlcv(s:bar("P"))) -- the newest open bar
      tick(s, "P", T0 + 62 * NS, 21, 1)  -- the clock reaches 60 + 2: [0, 60) closes
      assert.equal(1, #closed)
      assert.same({ 10, 11, 10, 11, 2 }, ohlcv(closed[1]))
      tick(s, "P", T0 + 59.5 * NS, 12, 1) -- now late
      assert.equal(1, s:stats().late)
      assert.same({ 10, 11, 10, 11, 2 }, ohlcv(s:bars("P")[1]))
    end)

    it("opens a missing bar between open ones, in start order", function()
      local closed = {}
      local s = storemod.new({ lateness = 30, on_bar = function(b) closed[#closed + 1] = b end })
      tick(s, "Q", T0 + 130 * NS, 3, 1) -- [120, 180)
      tick(s, "Q", T0 + 100 * NS, 2, 1) -- [60, 120) is open until 150: made before it
      tick(s, "Q", T0 + 20 * NS, 1, 1)  -- [0, 60) closed at 90 <= 130: late
      assert.same({ 60, 120 }, starts(s:bars("Q", 60, nil, { open = true })))
      assert.equal(1, s:stats().late)
      assert.equal(0, s:roll(T0 + 149 * NS))
      assert.equal(1, s:roll(T0 + 150 * NS))
      assert.same({ 60 }, starts(closed))
      assert.equal(1, s:roll(T0 + 210 * NS))
      assert.same({ 60, 120 }, starts(closed))
      assert.same({ 60, 120 }, starts(s:bars("Q")))
      assert.is_nil(s:bar("Q"))
    end)

    it("with lateness longer than the interval, keeps several bars open in start order", function()
      local closed = {}
      local s = storemod.new({ lateness = 150, on_bar = function(b) closed[#closed + 1] = b end })
      tick(s, "S", T0 + 10 * NS, 1, 1)
      tick(s, "S", T0 + 130 * NS, 3, 1)
      tick(s, "S", T0 + 70 * NS, 2, 1)  -- between two open bars
      tick(s, "S", T0 + 190 * NS, 4, 1)
      tick(s, "S", T0 + 75 * NS, 5, 1)  -- into the middle one
      assert.same({ 0, 60, 120, 180 }, starts(s:bars("S", 60, nil, { open = true })))
      assert.same({ 2, 5, 2, 5, 2 }, ohlcv(s:bars("S", 60, nil, { open = true })[2]))
      assert.equal(1, s:roll(T0 + 210 * NS)) -- 0 + 60 + 150
      assert.equal(2, s:roll(T0 + 330 * NS))
      assert.same({ 0, 60, 120 }, starts(closed))
      assert.same({ 180 }, starts({ s:bar("S") }))
    end)

    it("floors times before 1970 too", function()
      local s = storemod.new()
      tick(s, "Old", -1LL, 1, 1)
      assert.is_true(s:bar("Old").start == -60LL * NS)
      tick(s, "Num", -1, 1, 1)
      assert.is_true(s:bar("Num").start == -60LL * NS)
    end)

    it("drops a tick late for one interval from every interval", function()
      local s = storemod.new({ intervals = { 60, 300 } })
      local base = 1614009000LL * NS
      tick(s, "R", base + 10 * NS, 1, 1)
      tick(s, "R", base + 70 * NS, 2, 1)
      tick(s, "R", base + 20 * NS, 3, 5) -- late for 1 min; its 5 min bar is open, left alone
      assert.equal(1, s:stats().late)
      assert.same({ 1, 2, 1, 2, 2 }, ohlcv(s:bar("R", 300)))
    end)

    -- The rule written out plainly, against the store on shuffled ticks and rolls.
    local B0 = 1614009000LL * NS -- a multiple of 300 s
    local function model_check(seed, max_bars, spacing)
      math.randomseed(seed)
      local intervals, lateness = { 60, 300 }, 20
      local closed = {}
      local s = storemod.new({ intervals = intervals, lateness = lateness, max_bars = max_bars,
        on_bar = function(b) closed[#closed + 1] = b end })
      local clock, accepted, late = -math.huge, {}, 0
      for i = 1, 600 do
        if math.random() < 0.05 then
          local now = (clock > 0 and clock or 0) + math.random(0, 10000) -- ms after B0
          s:roll(B0 + now * 1000000LL)
          clock = math.max(clock, now)
        else
          local ms = math.max(0, i * spacing + math.random(-40000, 3000))
          local ts = B0 + ms * 1000000LL + math.random(0, 999999)
          local price, vol = math.random(1, 1000) / 4, math.random(1, 9)
          tick(s, "M", ts, price, vol)
          local is_late = false
          for _, iv in ipairs(intervals) do
            if ms - ms % (iv * 1000) + iv * 1000 + lateness * 1000 <= clock then
              is_late = true
            end
          end
          if is_late then
            late = late + 1
          else
            accepted[#accepted + 1] = { ms = ms, t = tonumber(ts - B0), price = price, vol = vol }
            clock = math.max(clock, ms)
          end
        end
      end
      assert.equal(late, s:stats().late)
      s:roll(B0 + 10 ^ 9 * 1000000LL) -- closes every bar
      for _, iv in ipairs(intervals) do
        local by_start, list = {}, {}
        for _, k in ipairs(accepted) do
          local st = k.ms - k.ms % (iv * 1000)
          local b = by_start[st]
          if not b then
            b = { st = st, open = k.price, high = k.price, low = k.price, close = k.price,
              volume = 0, ticks = 0, t0 = k.t, t1 = k.t }
            by_start[st] = b
            list[#list + 1] = b
          end
          b.high, b.low = math.max(b.high, k.price), math.min(b.low, k.price)
          b.volume, b.ticks = b.volume + k.vol, b.ticks + 1
          if k.t < b.t0 then
            b.t0, b.open = k.t, k.price
          end
          if k.t >= b.t1 then
            b.t1, b.close = k.t, k.price
          end
        end
        table.sort(list, function(x, y) return x.st < y.st end)
        local want_closed, want_kept = {}, {}
        for idx, b in ipairs(list) do
          local row = { b.st / 1000, b.open, b.high, b.low, b.close, b.volume, b.ticks }
          want_closed[#want_closed + 1] = row
          if idx > #list - max_bars then
            want_kept[#want_kept + 1] = row
          end
        end
        local function rows(bars, only)
          local out = {}
          for _, b in ipairs(bars) do
            if only == nil or b.interval == only then
              out[#out + 1] = { tonumber((b.start - B0) / NS), b.open, b.high, b.low, b.close, b.volume, b.ticks }
            end
          end
          table.sort(out, function(x, y) return x[1] < y[1] end)
          return out
        end
        assert.same(want_kept, rows(s:bars("M", iv)))
        assert.same(want_closed, rows(closed, iv))
      end
      return late
    end

    it("follows the rule on shuffled ticks and rolls (a model check)", function()
      local late = 0
      for seed = 1, 5 do
        for _, spacing in ipairs({ 2000, 30000 }) do -- ms between ticks: dense, and with gaps
          late = late + model_check(seed, 100000, spacing)
          model_check(seed, 3, spacing) -- small rings: the kept bars are the newest three
        end
      end
      assert.is_true(late > 10) -- the data did exercise the rule
    end)

    it("counts ticks older than the oldest bar of a full ring as late", function()
      local s = storemod.new({ max_bars = 2, lateness = 600 })
      tick(s, "F", T0 + 130 * NS, 1, 1)
      tick(s, "F", T0 + 190 * NS, 2, 1) -- ring full: [120, 180) and [180, 240), both open
      tick(s, "F", T0 + 70 * NS, 3, 1)  -- [60, 120) would be older than both: late
      assert.equal(1, s:stats().late)
      assert.same({ 120, 180 }, starts(s:bars("F", 60, nil, { open = true })))
    end)
  end)

  describe("roll and on_bar", function()
    it("closes bars whose interval has ended, with int64 or number now", function()
      local closed = {}
      local s = storemod.new({ intervals = { 60, 300 }, on_bar = function(b) closed[#closed + 1] = b end })
      local base = 1614009000LL * NS
      tick(s, "A", base + 10 * NS, 1, 1)
      tick(s, "B", base + 20 * NS, 2, 1)
      assert.equal(0, s:roll(base + 59 * NS))
      assert.equal(2, s:roll(base + 60 * NS)) -- both 1-minute bars
      assert.equal(2, #closed)
      for _, b in ipairs(closed) do
        assert.equal(60, b.interval)
        assert.is_true(b.start == base)
        assert.is_true(b.closed)
      end
      assert.is_nil(s:bar("A", 60))
      assert.is_not_nil(s:bar("A", 300))
      assert.equal(0, s:roll(tonumber(base) + 120e9))
      assert.equal(2, s:roll(tonumber(base) + 300e9)) -- the 5-minute bars, now a number
      assert.equal(4, #closed)
      assert.equal(0, s:roll(base + 900 * NS))
      assert.equal(4, s:stats().bars_closed)
      -- a tick for a bar roll closed is late
      tick(s, "A", base + 30 * NS, 9, 9)
      assert.equal(1, s:stats().late)
      assert.has_error(function() s:roll(nil) end)
    end)

    it("counts and logs an error in on_bar and keeps filing", function()
      local logged = {}
      local log = { event = function(_, level, key, msg) logged[#logged + 1] = { level, key, msg } end }
      local s = storemod.new({ on_bar = function() error("boom") end, log = log })
      tick(s, "E", T0, 1, 1)
      tick(s, "E", T0 + 60 * NS, 2, 1)
      tick(s, "E", T0 + 61 * NS, 3, 1)
      local st = s:stats()
      assert.equal(1, st.on_bar_errors)
      assert.matches("boom", st.last_error)
      assert.equal(1, #logged)
      assert.equal("warning", logged[1][1])
      assert.matches("on_bar failed: .*boom", logged[1][3])
      assert.same({ 2, 3, 2, 3, 2 }, ohlcv(s:bar("E")))
    end)
  end)

  describe("exchange bars", function()
    it("are kept apart from the bars built from ticks", function()
      local s = storemod.new()
      xbar(s, "AAPL", T0, 126.38, 126.6, 126.35, 126.55, 49378)
      tick(s, "AAPL", T0 + 5 * NS, 126.4, 10)
      tick(s, "AAPL", T0 + 65 * NS, 126.5, 10)
      local ex = s:bars("AAPL", 60, nil, { source = "exchange" })
      assert.equal(1, #ex)
      assert.same({ 126.38, 126.6, 126.35, 126.55, 49378 }, ohlcv(ex[1]))
      assert.equal("exchange", ex[1].source)
      assert.is_nil(ex[1].ticks)
      assert.is_true(ex[1].start == T0)
      local built = s:bars("AAPL")
      assert.equal(1, #built)
      assert.same({ 126.4, 126.4, 126.4, 126.4, 10 }, ohlcv(built[1]))
      assert.same(ohlcv(ex[1]), ohlcv(s:bar("AAPL", 60, { source = "exchange" })))
      -- exchange bars are not ticks: trade() is the last tick
      assert.equal(126.5, s:trade("AAPL").data.price)
    end)

    it("replaces a resent bar, keeps start order, and takes the record's interval", function()
      local s = storemod.new({ max_bars = 3 })
      xbar(s, "X", T0 + 60 * NS, 1, 1, 1, 1, 1)
      xbar(s, "X", T0 + 180 * NS, 3, 3, 3, 3, 3)
      xbar(s, "X", T0 + 120 * NS, 2, 2, 2, 2, 2)  -- in between
      xbar(s, "X", T0 + 180 * NS, 3, 4, 3, 3.5, 9) -- resent: replaces
      local ex = s:bars("X", nil, nil, { source = "exchange" })
      assert.same({ 60, 120, 180 }, starts(ex))
      assert.same({ 3, 4, 3, 3.5, 9 }, ohlcv(ex[3]))
      xbar(s, "X", T0, 0, 0, 0, 0, 0) -- older than the oldest of a full ring
      assert.equal(1, s:stats().late_bars)
      xbar(s, "X", T0 + 240 * NS, 5, 5, 5, 5, 5) -- newer: the oldest goes
      assert.same({ 120, 180, 240 }, starts(s:bars("X", 60, nil, { source = "exchange" })))
      assert.same({ 180, 240 }, starts(s:bars("X", 60, 2, { source = "exchange" })))
      xbar(s, "X", T0, 7, 7, 7, 7, 7, 300) -- a 5-minute bar: its own ring
      assert.same({ 0 }, starts(s:bars("X", 300, nil, { source = "exchange" })))
      assert.equal(3, #s:bars("X", 60, nil, { source = "exchange" }))
    end)
  end)

  describe("rings", function()
    it("hold at most max_bars bars (the open one included), oldest first, after wrapping", function()
      local closed = 0
      local s = storemod.new({ max_bars = 10, on_bar = function() closed = closed + 1 end })
      for m = 0, 24 do
        tick(s, "W", T0 + m * 60 * NS, m, 1)
        tick(s, "W", T0 + (m * 60 + 30) * NS, m + 0.5, 2)
      end
      local all = s:bars("W", 60, nil, { open = true })
      assert.equal(10, #all)
      assert.same({ 900, 960, 1020, 1080, 1140, 1200, 1260, 1320, 1380, 1440 }, starts(all))
      assert.same({ 15, 15.5, 15, 15.5, 3 }, ohlcv(all[1]))
      assert.equal(9, #s:bars("W"))
      assert.same({ 1380 }, starts(s:bars("W", 60, 1)))
      assert.equal(24, closed)
      local st = s:stats()
      assert.equal(10, st.bars)
      assert.equal(1, st.bars_open)
    end)

    it("close an open bar before dropping it from a full ring", function()
      local closed = {}
      local s = storemod.new({ max_bars = 1, lateness = 600, on_bar = function(b) closed[#closed + 1] = b end })
      tick(s, "V", T0 + 1 * NS, 1, 1)
      tick(s, "V", T0 + 61 * NS, 2, 1)
      assert.same({ 0 }, starts(closed))
      assert.same({ 60 }, starts(s:bars("V", 60, nil, { open = true })))
    end)
  end)

  describe("quotes, trades and depth", function()
    it("keeps the latest quote, and the latest depth any quote carried", function()
      local s = storemod.new()
      local depth = { bids = { { 1573.4, 5 } }, asks = { { 1573.7, 172 } } }
      s:put({ channel = "quote", asset = { symbol = "INFY" }, timestamp = T0, bid = 1573.4, ask = 1573.7,
        market_depth = depth })
      s:put({ channel = "quote", asset = { symbol = "INFY" }, timestamp = T0 + NS, last = 1573.5 })
      assert.equal(1573.5, s:quote("INFY").last)
      assert.is_nil(s:quote("INFY").bid)
      assert.equal(1573.5, s:quote({ symbol = "INFY" }).last) -- an Asset works as the key
      local d, ts = s:depth("INFY")
      assert.equal(depth, d)
      assert.is_true(ts == T0)
      assert.is_nil(s:quote("NONE"))
      assert.is_nil(s:depth("NONE"))
      assert.is_nil(s:trade("INFY"))
    end)

    it("keeps the tick with the latest timestamp as the last trade", function()
      local s = storemod.new()
      tick(s, "T", T0 + 5 * NS, 1, 1)
      tick(s, "T", T0 + 3 * NS, 2, 1)
      assert.equal(1, s:trade("T").data.price)
      tick(s, "T", T0 + 5 * NS, 3, 1)
      assert.equal(3, s:trade("T").data.price)
    end)

    it("lists the assets it has data for", function()
      local s = storemod.new()
      tick(s, "MSFT", T0, 1, 1)
      s:put({ channel = "quote", asset = { symbol = "AAPL" }, timestamp = T0, bid = 1 })
      xbar(s, "BTCUSDT", T0, 1, 1, 1, 1, 1)
      assert.same({ "AAPL", "BTCUSDT", "MSFT" }, s:assets())
    end)
  end)

  describe("orders", function()
    local function order(id, status, ts, extra)
      local r = { channel = "order", connection = "trading", order_id = id, status = status,
        timestamp = ts, filled = 0, average_price = 0, asset = { symbol = "AAPL" } }
      for k, v in pairs(extra or {}) do
        r[k] = v
      end
      return r
    end

    it("keep the latest state by order_id and a bounded history", function()
      local s = storemod.new({ order_history = 3 })
      s:put(order("o1", "open", T0, { event = "new" }))
      s:put(order("o1", "open", T0 + NS, { event = "partial_fill", filled = 40 }))
      s:put(order("o1", "complete", T0 + 2 * NS, { event = "fill", filled = 100 }))
      assert.equal("complete", s:order("o1").status)
      assert.equal(100, s:order("o1").filled)
      local h = s:order_history("o1")
      assert.same({ "new", "partial_fill", "fill" }, { h[1].event, h[2].event, h[3].event })
      s:put(order("o1", "complete", T0 + 3 * NS, { event = "extra" }))
      h = s:order_history("o1")
      assert.same({ "partial_fill", "fill", "extra" }, { h[1].event, h[2].event, h[3].event })
      assert.is_nil(s:order("nope"))
      assert.same({}, s:order_history("nope"))
    end)

    it("do not let an update older than the current state replace it", function()
      local s = storemod.new()
      s:put(order("o2", "complete", T0 + 2 * NS, { event = "fill" }))
      s:put(order("o2", "open", T0 + NS, { event = "partial_fill" })) -- arrives late
      assert.equal("complete", s:order("o2").status)
      assert.equal(2, #s:order_history("o2"))
      s:put(order("o2", "open", nil, { event = "no time" })) -- no time: taken as newest
      assert.equal("no time", s:order("o2").event)
    end)

    it("find ids given as numbers, strings or int64", function()
      local s = storemod.new()
      s:put(order(241126000123456, "open", T0))
      assert.equal("open", s:order("241126000123456").status)
      assert.equal("open", s:order(241126000123456LL).status)
      s:put(order("42", "rejected", T0))
      assert.equal("rejected", s:order(42).status)
    end)

    it("filter by status, asset and connection, in the order first seen", function()
      local s = storemod.new()
      s:put(order("a", "open", T0))
      s:put(order("b", "complete", T0, { asset = { symbol = "MSFT" } }))
      s:put(order("c", "open", T0, { connection = "other" }))
      s:put(order("a", "cancelled", T0 + NS))
      local function ids(list)
        local out = {}
        for i, r in ipairs(list) do
          out[i] = r.order_id
        end
        return out
      end
      assert.same({ "a", "b", "c" }, ids(s:orders()))
      assert.same({ "c" }, ids(s:orders({ status = "open" })))
      assert.same({ "b" }, ids(s:orders({ asset = "MSFT" })))
      assert.same({ "a", "b" }, ids(s:orders({ connection = "trading" })))
      assert.same({ "a" }, ids(s:orders({ status = "cancelled", asset = { symbol = "AAPL" } })))
    end)

    it("beyond max_orders forget the order that finished first, else the oldest", function()
      local s = storemod.new({ max_orders = 3 })
      s:put(order("1", "open", T0))
      s:put(order("2", "open", T0))
      s:put(order("3", "open", T0))
      s:put(order("2", "complete", T0 + NS))
      s:put(order("1", "complete", T0 + NS))
      s:put(order("4", "open", T0)) -- "2" finished first
      assert.is_nil(s:order("2"))
      assert.is_not_nil(s:order("1"))
      s:put(order("5", "open", T0)) -- then "1"
      assert.is_nil(s:order("1"))
      s:put(order("6", "open", T0)) -- none finished: the oldest, "3"
      assert.is_nil(s:order("3"))
      assert.is_not_nil(s:order("4"))
      local st = s:stats()
      assert.equal(3, st.orders)
      assert.equal(3, st.orders_evicted)
      -- many more: the bookkeeping stays bounded
      for i = 7, 500 do
        s:put(order(tostring(i), i % 2 == 0 and "complete" or "open", T0))
      end
      assert.equal(3, s:stats().orders)
      assert.is_true(s.seen_q.tail - s.seen_q.head + 1 <= 2 * 3 + 64)
      assert.is_true(s.done_q.tail - s.done_q.head + 1 <= 2 * 3 + 64)
    end)

    it("keep their bookkeeping bounded while old open orders stay", function()
      local s = storemod.new({ max_orders = 3 })
      s:put(order("keep1", "open", T0))
      s:put(order("keep2", "open", T0))
      for i = 1, 1000 do -- each finished order is forgotten for the next
        s:put(order("f" .. i, "complete", T0))
      end
      assert.equal("open", s:order("keep1").status)
      assert.equal("open", s:order("keep2").status)
      assert.equal("complete", s:order("f1000").status)
      assert.is_nil(s:order("f999"))
      assert.is_true(s.seen_q.tail - s.seen_q.head + 1 <= 2 * 3 + 64)
      assert.same({ "keep1", "keep2", "f1000" }, { s:orders()[1].order_id, s:orders()[2].order_id,
        s:orders()[3].order_id })
    end)
  end)

  describe("positions, accounts and recent records", function()
    it("keep positions by asset symbol or by the record's position_id", function()
      local s = storemod.new()
      s:put({ channel = "position", asset = { symbol = "AAPL" }, quantity = 10 })
      s:put({ channel = "position", asset = { symbol = "AAPL" }, quantity = 15 })
      s:put({ channel = "position", position_id = "INFY:MIS", asset = "INFY", quantity = 1 })
      s:put({ channel = "position", position_id = "INFY:CNC", asset = "INFY", quantity = 2 })
      assert.equal(15, s:position("AAPL").quantity)
      assert.equal(15, s:position({ symbol = "AAPL" }).quantity)
      assert.equal(2, s:position("INFY:CNC").quantity)
      assert.is_nil(s:position("INFY"))
      local all = s:positions()
      assert.same({ "AAPL", "INFY:CNC", "INFY:MIS" }, (function()
        local keys = {}
        for k in pairs(all) do
          keys[#keys + 1] = k
        end
        table.sort(keys)
        return keys
      end)())
      all.AAPL = nil
      assert.is_not_nil(s:position("AAPL")) -- a copy
      assert.equal(3, s:stats().positions)
    end)

    it("drop positions without a key or beyond max_positions", function()
      local s = storemod.new({ max_positions = 1 })
      s:put({ channel = "position", quantity = 1 })
      s:put({ channel = "position", asset = "A", quantity = 1 })
      s:put({ channel = "position", asset = "B", quantity = 1 })
      s:put({ channel = "position", asset = "A", quantity = 2 })
      assert.equal(2, s:position("A").quantity)
      assert.is_nil(s:position("B"))
      assert.equal(2, s:stats().dropped)
    end)

    it("keep the latest account per connection", function()
      local s = storemod.new()
      assert.is_nil(s:account())
      s:put({ channel = "account", connection = "trading", cash = 1 })
      s:put({ channel = "account", connection = "other", cash = 2 })
      s:put({ channel = "account", connection = "trading", cash = 3 })
      assert.equal(3, s:account("trading").cash)
      assert.equal(2, s:account("other").cash)
      assert.equal(3, s:account().cash) -- the latest of any
      assert.is_nil(s:account("none"))
    end)

    it("keep the last max_recent news and trade records", function()
      local s = storemod.new({ max_recent = 3 })
      for i = 1, 5 do
        s:put({ channel = "news", headline = "h" .. i })
      end
      s:put({ channel = "trade", id = 1 })
      local n = s:recent("news")
      assert.same({ "h3", "h4", "h5" }, { n[1].headline, n[2].headline, n[3].headline })
      assert.same({ "h5" }, { s:recent("news", 1)[1].headline })
      assert.equal(1, #s:recent("trade"))
      assert.same({}, s:recent("info"))
    end)
  end)

  describe("caps and stats", function()
    it("drops and counts records of new assets beyond max_assets", function()
      local s = storemod.new({ max_assets = 2 })
      tick(s, "A", T0, 1, 1)
      s:put({ channel = "quote", asset = "B", timestamp = T0, bid = 1 })
      tick(s, "C", T0, 1, 1)
      s:put({ channel = "quote", asset = "C", timestamp = T0, bid = 1 })
      tick(s, "A", T0 + NS, 2, 1) -- known assets still file
      local st = s:stats()
      assert.equal(2, st.assets)
      assert.equal(2, st.dropped_assets)
      assert.equal(2, st.dropped)
      assert.same({ "A", "B" }, s:assets())
      assert.is_nil(s:trade("C"))
      assert.equal(2, s:trade("A").data.price)
    end)

    it("counts records per channel, drops what it cannot file, and estimates its memory", function()
      local s = storemod.new()
      tick(s, "A", T0, 1, 1)
      tick(s, "A", nil, 1, 1)                                        -- no timestamp
      s:put({ channel = "data", asset = { name = "no symbol" }, timestamp = T0, data = { price = 1 } })
      s:put({ channel = "data", asset = "A", timestamp = T0, data = { foo = 1 } }) -- neither
      s:put({ channel = "order", status = "open" })                   -- no order_id
      s:put({ channel = "info", text = "hello" })
      local st = s:stats()
      assert.equal(6, st.records)
      assert.same({ data = 4, order = 1, info = 1 }, st.channels)
      assert.equal(4, st.dropped)
      assert.equal(1, st.ticks)
      assert.equal(1, st.bars)
      assert.equal(1, st.bars_open)
      assert.is_true(st.memory > 0)
    end)

    it("rejects bad options", function()
      assert.has_error(function() storemod.new({ intervals = {} }) end)
      assert.has_error(function() storemod.new({ intervals = { 0.5 } }) end)
      assert.has_error(function() storemod.new({ max_bars = 0 }) end)
      assert.has_error(function() storemod.new({ lateness = -1 }) end)
      assert.has_error(function() storemod.new({ on_bar = 1 }) end)
    end)
  end)

  describe("the specs' fixture records", function()
    -- The fixture frames through the real compiled pipelines into a store: Asset tables and int64
    -- timestamps as the host gives them.
    local cffi = require("feedhost.sys.ffi")
    local specmod = require("feedhost.spec")
    local replay = require("feedhost.runtime.replay")
    local bytes = require("feedhost.bytes")

    local function feed(name, store)
      local fx = dofile("specs/fixtures/" .. name .. ".lua")
      local loaded = assert(specmod.load("specs/" .. name .. ".lua"))
      local creds = assert(require("feedhost.spec.credentials").resolve(loaded.spec, fx.credentials, function() return nil end))
      local compiled = assert(specmod.compile(loaded, { credentials = creds, emit = function(r) store:put(r) end }))
      for conn, cfx in pairs(fx.connections) do
        local b = cffi.batch(4096, 8)
        for _, f in ipairs(cfx.frames or {}) do
          local ts = f.received_at and replay.parse_int64(tostring(f.received_at)) or 1700000000000000000LL
          if f.text then
            cffi.api.batch_push(b, 1, cffi.C.FH_FRAME_TEXT, ts, f.text, #f.text)
          else
            local bin = f.binary or bytes.hex(f.hex)
            cffi.api.batch_push(b, 1, cffi.C.FH_FRAME_BINARY, ts, bin, #bin)
          end
        end
        compiled.connections[conn].pipeline.run(b)
      end
    end

    it("files Alpaca trades, quotes, bars and orders", function()
      local s = storemod.new()
      feed("alpaca", s)
      assert.equal(126.57, s:trade("AAPL").data.price)
      assert.equal(126.54, s:quote("AAPL").bid)
      local ex = s:bars("AAPL", 60, nil, { source = "exchange" })
      assert.equal(1, #ex)
      assert.same({ 126.38, 126.6, 126.35, 126.55, 49378 }, ohlcv(ex[1]))
      -- ticks at 15:51:44.208 and 15:52:01.2: the first minute closed by the second
      local built = s:bars("AAPL")
      assert.equal(1, #built)
      assert.is_true(built[1].start == 1614009060LL * NS)
      assert.same({ 126.55, 126.55, 126.55, 126.55, 1 }, ohlcv(built[1]))
      assert.equal("complete", s:order("61e69015-8549-4bfd-b9c3-01e75843f47d").status)
      assert.equal(3, #s:order_history("61e69015-8549-4bfd-b9c3-01e75843f47d"))
      assert.same({ "0b2c9a8e-55f3-4c0b-a2a4-3e1f6d7c8b90" }, { s:orders({ status = "cancelled" })[1].order_id })
    end)

    it("files Binance klines apart from trades, and Kite depth", function()
      local s = storemod.new()
      feed("binance", s)
      assert.same({ 3352.1, 3356, 3351.72, 3355.44, 412.8341 },
        ohlcv(s:bars("ETHUSDT", 60, nil, { source = "exchange" })[1]))
      assert.equal(3355.44, s:bar("ETHUSDT").close)
      local k = storemod.new()
      feed("kite", k)
      local d = k:depth("INFY")
      assert.same({ 1573.4, 5 }, d.bids[1])
      assert.equal("complete", k:order("241126000123456").status)
    end)
  end)
end)
