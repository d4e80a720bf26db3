--- feedhost.sim.market: the market behind the Alpaca simulator (feedhost.sim.alpaca).
--
-- One market is shared by every client of a simulator: prices random-walk per symbol from `seed`
-- (a deterministic Park-Miller generator), trade ids increase across clients and reconnects, and
-- the bar of a symbol for a period is made once and shared by the clients that ask for it. It
-- writes the JSON items of Alpaca market data v2 (PROTOCOLS.md 2.1); sockets, clients and timers
-- are the simulator's.
--
-- API
--   M.DEFAULT_SYMBOLS               what "*" means unless opts.symbols says otherwise
--   M.new(opts)                     -> a market; opts: seed (1), symbols (M.DEFAULT_SYMBOLS).
--                                      Fields: rng, symbols, trade_id (the last), prices (symbol ->
--                                      last price), sym_json, bars (caches)
--   M.new_rng(seed)                 -> rng: rng:next() in [0, 1), rng:int(lo, hi)
--   M.rfc3339_ns(ns)                -> "2026-11-27T02:11:14.123456789Z" (`ns`: int64 cdata)
--   M.rfc3339_sec(sec)              -> "2026-11-27T02:11:14Z"
--   M.put_data(mk, buf, pool)       appends one data message to string.buffer `buf`: an array
--                                      of 1..3 trade/quote items of symbols of `pool`;
--                                      -> the item count
--   M.put_bars(mk, buf, syms, t)    appends the array of the bars of `syms` for the period `t`
--   M.data_pool(mk, subs)           -> the distinct symbols getting trades or quotes, each
--                                      {sym =, trades = true|nil, quotes = true|nil}
--   M.bar_symbols(mk, subs)         -> the distinct symbols getting bars, or nil for none
-- `subs` are a client's subscriptions: channel -> {list = {symbols in order},
-- has = {symbol -> true}}; "*" stands for every symbol of the market.
local json = require("feedhost.util.json")
local clock = require("feedhost.sys.clock")

local M = {}

local floor, min, max = math.floor, math.min, math.max
local format = string.format
local encode_number, encode_string = json.encode_number, json.encode_string

M.DEFAULT_SYMBOLS = { "AAPL", "MSFT", "TSLA", "AMD", "NVDA", "SPY", "QQQ", "AMZN", "GOOGL",
  "META", "NFLX", "INTC" }

-- starting prices of the default symbols; others start from a hash of their name
local BASE_PRICES = { AAPL = 189.5, MSFT = 411.2, TSLA = 178.3, AMD = 162.4, NVDA = 881.9,
  SPY = 521.7, QQQ = 441.3, AMZN = 181.6, GOOGL = 152.8, META = 493.1, NFLX = 612.5, INTC = 31.2 }

local EXCHANGES = { "V", "Q", "N", "P", "Z", "K" }

-- ---- deterministic random numbers (Park-Miller; every product is exact in a double) -------------
local Rng = {}
Rng.__index = Rng

local MODULUS = 2147483647

local function new_rng(seed)
  local s = floor(tonumber(seed) or 1) % (MODULUS - 1) + 1
  local r = setmetatable({ s = s }, Rng)
  for _ = 1, 8 do
    r:next()
  end
  return r
end

--- A uniform number in [0, 1).
function Rng:next()
  self.s = self.s * 48271 % MODULUS
  return (self.s - 1) / (MODULUS - 1)
end

--- An integer in [lo, hi].
function Rng:int(lo, hi)
  return lo + floor(self:next() * (hi - lo + 1))
end
M.new_rng = new_rng

-- ---- time ---------------------------------------------------------------------------------------
local date_sec, date_text = -1, ""

-- RFC 3339 UTC with 9 fractional digits: 2026-11-27T02:11:14.123456789Z (`ns`: int64 cdata)
local function rfc3339_ns(ns)
  local s64 = ns / 1000000000LL
  local sec = tonumber(s64)
  local frac = tonumber(ns - s64 * 1000000000LL)
  if sec ~= date_sec then
    date_sec = sec
    date_text = os.date("!%Y-%m-%dT%H:%M:%S", sec)
  end
  return format("%s.%09dZ", date_text, frac)
end
M.rfc3339_ns = rfc3339_ns

-- whole seconds: 2026-11-27T02:11:14Z
local function rfc3339_sec(sec)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", sec)
end
M.rfc3339_sec = rfc3339_sec

local function cents(x)
  return floor(x * 100 + 0.5) / 100
end

-- ---- the market ---------------------------------------------------------------------------------
--- A market: its random numbers, prices and trade ids.
-- opts: seed (1), symbols (M.DEFAULT_SYMBOLS: what "*" means)
function M.new(opts)
  opts = opts or {}
  return {
    rng = new_rng(opts.seed or 1),
    symbols = opts.symbols or M.DEFAULT_SYMBOLS,
    prices = {},
    sym_json = {},
    bars = {},
    trade_id = 0,
  }
end

local function base_price(sym)
  local p = BASE_PRICES[sym]
  if p then
    return p
  end
  local h = 0
  for i = 1, #sym do
    h = (h * 31 + sym:byte(i)) % 100003
  end
  return 10 + h % 490 + (h % 100) / 100
end

local function price_of(mk, sym)
  local p = mk.prices[sym]
  if not p then
    p = base_price(sym)
    mk.prices[sym] = p
  end
  return p
end

-- one step of the random walk (about +-0.1 %), in cents
local function step_price(mk, sym)
  local p = price_of(mk, sym)
  p = cents(p * (1 + (mk.rng:next() - 0.5) * 0.002))
  if p < 0.01 then
    p = 0.01
  end
  mk.prices[sym] = p
  return p
end

local function sym_json(mk, sym)
  local s = mk.sym_json[sym]
  if not s then
    s = encode_string(sym)
    mk.sym_json[sym] = s
  end
  return s
end

local function put_trade(mk, buf, sym)
  local rng = mk.rng
  local p = step_price(mk, sym)
  mk.trade_id = mk.trade_id + 1
  buf:put('{"T":"t","S":', sym_json(mk, sym), ',"i":', encode_number(mk.trade_id), ',"x":"',
    EXCHANGES[rng:int(1, #EXCHANGES)], '","p":', encode_number(p), ',"s":',
    encode_number(rng:int(1, 300)), ',"t":"', rfc3339_ns(clock.now_ns()),
    '","c":["@"],"z":"C"}')
end

local function put_quote(mk, buf, sym)
  local rng = mk.rng
  local p = step_price(mk, sym)
  local half = max(0.01, cents(p * 0.0002 * rng:int(1, 5)))
  local bp = max(0.01, cents(p - half))
  local ap = cents(bp + 2 * half)
  buf:put('{"T":"q","S":', sym_json(mk, sym), ',"bx":"', EXCHANGES[rng:int(1, #EXCHANGES)],
    '","bp":', encode_number(bp), ',"bs":', encode_number(rng:int(1, 10)), ',"ax":"',
    EXCHANGES[rng:int(1, #EXCHANGES)], '","ap":', encode_number(ap), ',"as":',
    encode_number(rng:int(1, 10)), ',"t":"', rfc3339_ns(clock.now_ns()), '","c":["R"],"z":"C"}')
end

-- The bar of `sym` for the period stamped `t`, made once and shared by the clients that asked
-- for it; it moves the symbol's price to its close.
local function bar_item(mk, sym, t)
  local cache = mk.bars
  if cache.t ~= t then
    cache = { t = t, items = {} }
    mk.bars = cache
  end
  local item = cache.items[sym]
  if item then
    return item
  end
  local o = price_of(mk, sym)
  local h, l, c = o, o, o
  for _ = 1, 4 do
    c = step_price(mk, sym)
    h = max(h, c)
    l = min(l, c)
  end
  item = format('{"T":"b","S":%s,"o":%s,"h":%s,"l":%s,"c":%s,"v":%s,"t":"%s"}',
    sym_json(mk, sym), encode_number(o), encode_number(h), encode_number(l), encode_number(c),
    encode_number(mk.rng:int(100, 50000)), t)
  cache.items[sym] = item
  return item
end

-- ---- messages -----------------------------------------------------------------------------------
--- Appends one data message to `buf`: an array of 1..3 trade/quote items, each of a symbol
-- drawn from `pool` (a trade or a quote as the symbol's channels allow). @return the item count
function M.put_data(mk, buf, pool)
  local rng, np = mk.rng, #pool
  buf:put("[")
  local k = rng:int(1, 3)
  for j = 1, k do
    if j > 1 then
      buf:put(",")
    end
    local e = pool[rng:int(1, np)]
    local trade = e.trades
    if trade and e.quotes then
      trade = rng:next() < 0.4
    end
    if trade then
      put_trade(mk, buf, e.sym)
    else
      put_quote(mk, buf, e.sym)
    end
  end
  buf:put("]")
  return k
end

--- Appends the array of the bars of `syms` for the period stamped `t` to `buf`.
function M.put_bars(mk, buf, syms, t)
  buf:put("[")
  for i, s in ipairs(syms) do
    if i > 1 then
      buf:put(",")
    end
    buf:put(bar_item(mk, s, t))
  end
  buf:put("]")
end

-- ---- subscriptions ------------------------------------------------------------------------------
-- the distinct symbols getting trades or quotes, with the channels of each
function M.data_pool(mk, subs)
  local pool, index = {}, {}
  local function add(sym, kind)
    local e = index[sym]
    if not e then
      e = { sym = sym }
      index[sym] = e
      pool[#pool + 1] = e
    end
    e[kind] = true
  end
  for _, kind in ipairs({ "trades", "quotes" }) do
    local set = subs[kind]
    if set.has["*"] then
      for _, s in ipairs(mk.symbols) do
        add(s, kind)
      end
    end
    for _, s in ipairs(set.list) do
      if s ~= "*" then
        add(s, kind)
      end
    end
  end
  return pool
end

-- the distinct symbols getting bars (nil: none)
function M.bar_symbols(mk, subs)
  local set = subs.bars
  if #set.list == 0 then
    return nil
  end
  local out, seen = {}, {}
  if set.has["*"] then
    for _, s in ipairs(mk.symbols) do
      seen[s] = true
      out[#out + 1] = s
    end
  end
  for _, s in ipairs(set.list) do
    if s ~= "*" and not seen[s] then
      seen[s] = true
      out[#out + 1] = s
    end
  end
  return out
end

return M
