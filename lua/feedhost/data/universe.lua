--- feedhost.data.universe: the asset universe: every Asset a spec knows, and infer_asset.
--
-- API
--   M.new(opts)                -> Universe
--
-- Universe
--   u:infer_asset{symbol = s} | {security_id = id} | {broker_symbol = b} -> Asset
--   u:infer_fn()               -> function(q) equivalent to u:infer_asset(q)
--                                 (for broker.infer_asset)
--   u:get(symbol)              -> Asset or nil (never creates)
--   u:resolve(symbols)         -> list of Assets, in order, deduplicated; entries are trimmed and
--                                 empty ones skipped; Assets are accepted too
--   u:count()                  -> number of distinct assets
--   u:list()                   -> the assets in load/creation order (do not modify)
--   u:duplicate_lines(max)     -> lines naming duplicate rows and where both came from
--   u.closed                   true with master data
--   u.name                     the universe's name ("default": master_data)
--   u.duplicates               { {key, value, first, second}, ... }: rows whose key another row
--                                already had (the first 100)
--   u.stats                    { rows, filtered, assets, duplicates, duplicate_keys = {symbol=,
--                                broker_symbol=, security_id=}, skipped, created }
--
-- With master data (opts.master, loaded by feedhost.data.master_sources) the universe is closed: its rows
-- become Assets (feedhost.data.asset) through master_data.fields and master_data.filter. Without,
-- it is open: assets are created by symbol on first use.
--
-- Errors
--   * Misuse (bad arguments, bad master_data) raises a string naming the key:
--     "master_data.fields.symbol: no column 'trading_symbol' in the master data (...)".
--   * An unknown symbol raises a table {kind = "SymbolNotFound", msg = "no asset with
--     symbol='XYZ'", key = "symbol", value = "XYZ"} (metatable asset.SymbolNotFound) with
--     error(e, 0).
--
-- Hot path: infer_asset allocates nothing and formats nothing when the asset is found. It checks
-- that exactly one of the three keys is given; another key beside a known one is only reported
-- when the lookup fails (detecting it costs a `next`, which LuaJIT 2.1 does not compile).
local asset = require("feedhost.data.asset")
local util_text = require("feedhost.util.text")

local M = {}

local type, tostring, tonumber, pairs, ipairs, setmetatable, getmetatable, error, pcall =
  type, tostring, tonumber, pairs, ipairs, setmetatable, getmetatable, error, pcall
local sformat, sgsub = string.format, string.gsub
local concat, sort = table.concat, table.sort
local show = util_text.show
local ok_new, table_new = pcall(require, "table.new")
if not ok_new then table_new = function() return {} end end

local Asset, FIELDS, IS_FIELD = asset.Asset, asset.FIELDS, asset.IS_FIELD
local new_asset, make_asset, format_id = asset.new_asset, asset.make_asset, asset.format_id
local symbol_not_found = asset.symbol_not_found
local master_sources = require("feedhost.data.master_sources")

local function trim(s)
  return (sgsub(s, "^%s+", ""):gsub("%s+$", ""))
end

local function raise_not_found(key, value)
  local shown = value
  if key == "security_id" or type(value) == "number" then shown = format_id(value) or value end
  error(symbol_not_found("no asset with " .. key .. "=" .. show(shown), key, shown), 0)
end

local KEYS = "symbol, security_id, broker_symbol"

-- Reports what is wrong with the argument table of infer_asset (called only off the hot path).
local function check_query(q)
  if type(q) ~= "table" then
    error("infer_asset: expected a table {symbol = ...}; give one of " .. KEYS, 3)
  end
  local got, unknown = {}, nil
  for k in pairs(q) do
    if k == "symbol" or k == "security_id" or k == "broker_symbol" then
      got[#got + 1] = k
    elseif unknown == nil then
      unknown = k
    end
  end
  if unknown ~= nil then
    error("infer_asset: unknown key " .. show(unknown) .. "; give one of " .. KEYS, 3)
  end
  if #got == 0 then error("infer_asset: give one of " .. KEYS, 3) end
  if #got > 1 then
    sort(got)
    error("infer_asset: give exactly one of " .. KEYS .. " (got " .. concat(got, ", ") .. ")", 3)
  end
end

local Universe = {}
Universe.__index = Universe
Universe.__name = "Universe"

function Universe:__tostring()
  return sformat("Universe(%s, %d assets)", self.closed and "closed" or "open", self._n)
end

function Universe:get(symbol)
  return self._by_symbol[symbol]
end

function Universe:count()
  return self._n
end

function Universe:list()
  return self._list
end

--- Returns a plain function(q) doing what u:infer_asset(q) does (for broker.infer_asset).
function Universe:infer_fn()
  local f = self._infer
  return f
end

function Universe:infer_asset(q)
  return self._infer(q)
end

-- adds an asset to the open universe's indexes
local function add_open(self, symbol)
  local a = new_asset { symbol = symbol }
  self._by_symbol[symbol] = a
  if self._by_broker[symbol] == nil then self._by_broker[symbol] = a end
  local n = self._n + 1
  self._n = n
  self._list[n] = a
  self.stats.created = self.stats.created + 1
  self.stats.assets = n
  return a
end

function Universe:resolve(symbols)
  if type(symbols) == "string" then symbols = { symbols } end
  if type(symbols) ~= "table" then
    error("resolve: expected a list of symbols, got " .. type(symbols), 2)
  end
  local out, n, seen, missing, missing_set = {}, 0, {}, nil, {}
  for i = 1, #symbols do
    local s = symbols[i]
    if getmetatable(s) == Asset then s = s.symbol end
    if type(s) == "number" then s = format_id(s) end
    if type(s) ~= "string" then
      error(sformat("resolve: entry %d is a %s, expected a symbol string", i, type(s)), 2)
    end
    s = trim(s)
    if s ~= "" then
      local a = self._by_symbol[s]
      if a == nil and not self.closed then a = add_open(self, s) end
      if a == nil then
        missing = missing or {}
        if not missing_set[s] then
          missing_set[s] = true
          missing[#missing + 1] = s
        end
      elseif not seen[a] then
        seen[a] = true
        n = n + 1
        out[n] = a
      end
    end
  end
  if missing then
    if #missing == 1 then
      raise_not_found("symbol", missing[1])
    end
    local shown = {}
    for i, s in ipairs(missing) do shown[i] = show(s) end
    error(symbol_not_found("no assets with symbols " .. concat(shown, ", "), "symbol", missing), 0)
  end
  return out
end

local function new_universe(closed)
  return setmetatable({
    closed = closed,
    _by_symbol = {},
    _by_broker = {},
    _by_sid = {},
    _list = {},
    _n = 0,
    duplicates = {},
    stats = {
      rows = 0, filtered = 0, assets = 0, duplicates = 0, skipped = 0, created = 0,
      duplicate_keys = { symbol = 0, broker_symbol = 0, security_id = 0 },
    },
  }, Universe)
end

-- The hot path of both universes: one hash probe when exactly one key is given and the asset is
-- indexed under it; anything else (a number to format, a missing asset, misuse) goes to `slow`.
local function fast_infer(by_symbol, by_broker, by_sid, slow)
  return function(q)
    local s, sid, bs = q.symbol, q.security_id, q.broker_symbol
    if s ~= nil then
      if sid == nil and bs == nil then
        local a = by_symbol[s]
        if a ~= nil then return a end
      end
    elseif sid ~= nil then
      if bs == nil then
        local a = by_sid[sid]
        if a ~= nil then return a end
      end
    elseif bs ~= nil then
      local a = by_broker[bs]
      if a ~= nil then return a end
    end
    return slow(q)
  end
end

-- The asset of a number key indexed by its text (symbol = 1234 finds "1234"); raises
-- SymbolNotFound for anything else.
local function find_formatted(idx, key, v)
  if type(v) == "number" then
    local a = idx[format_id(v)]
    if a then return a end
  end
  raise_not_found(key, v)
end

-- Builds the infer function of a closed universe (all lookups are single hash probes).
local function closed_infer(by_symbol, by_broker, by_sid)
  local function slow(q)
    check_query(q)
    local v = q.symbol
    if v ~= nil then return find_formatted(by_symbol, "symbol", v) end
    v = q.broker_symbol
    if v ~= nil then return find_formatted(by_broker, "broker_symbol", v) end
    v = q.security_id
    local s = format_id(v)
    local a = s and by_sid[s]
    if a then return a end
    raise_not_found("security_id", v)
  end
  return fast_infer(by_symbol, by_broker, by_sid, slow)
end

-- Builds the infer function of an open universe: symbols and broker symbols create assets.
local function open_infer(self)
  local by_symbol, by_broker = self._by_symbol, self._by_broker
  local function slow(q)
    check_query(q)
    if q.security_id ~= nil then
      error(symbol_not_found("no asset with security_id=" .. show(format_id(q.security_id)
        or q.security_id) .. " (no master data: assets are known by symbol only)",
        "security_id", format_id(q.security_id) or q.security_id), 0)
    end
    local key = q.symbol ~= nil and "symbol" or "broker_symbol"
    local v = q[key]
    local s = v
    if type(v) == "number" then s = format_id(v) end
    if type(s) ~= "string" or s == "" then raise_not_found(key, v) end
    local idx = key == "symbol" and by_symbol or by_broker
    local a = idx[s]
    if a == nil then
      a = by_symbol[s] or add_open(self, s)
      if idx[s] == nil then idx[s] = a end
    end
    if v ~= s then idx[v] = a end -- numbers hit directly next time
    return a
  end
  -- _by_sid stays empty without master data, so a security_id always goes to slow (which raises)
  return fast_infer(by_symbol, by_broker, self._by_sid, slow)
end

local function field_path(f, where)
  return (where or "master_data") .. ".fields." .. f
end

-- Compiles md.fields into a list of {field, column_or_function}.
local function compile_fields(fields, where)
  local spec = {}
  if fields ~= nil and type(fields) ~= "table" then
    error(where .. ".fields: expected a table of asset field -> column name", 0)
  end
  fields = fields or {}
  for f, col in pairs(fields) do
    if not IS_FIELD[f] then
      error(field_path(tostring(f), where) .. ": not an asset field (one of "
        .. concat(FIELDS, ", ") .. ")", 0)
    end
    if type(col) ~= "string" and type(col) ~= "function" then
      error(field_path(f, where) .. ": expected a column name or a function(row), got "
        .. type(col), 0)
    end
  end
  for _, f in ipairs(FIELDS) do
    local col = fields[f]
    if col == nil then col = f end -- a column named like the field
    spec[#spec + 1] = { f, col, fields[f] ~= nil }
  end
  return spec
end

-- Raises when a mapped column appears in none of the rows (a typo in master_data.fields).
local function check_columns(spec, rows, where)
  if #rows == 0 then return end
  for _, m in ipairs(spec) do
    local f, col, explicit = m[1], m[2], m[3]
    if explicit and type(col) == "string" then
      local found = false
      for i = 1, #rows do
        if rows[i][col] ~= nil then
          found = true
          break
        end
      end
      if not found then
        local cols = {}
        for k in pairs(rows[1]) do cols[#cols + 1] = tostring(k) end
        sort(cols)
        error(field_path(f, where) .. ": no column '" .. col .. "' in the master data (columns: "
          .. concat(cols, ", ") .. ")", 0)
      end
    end
  end
end

-- Indexes asset `a` in `index` under `value` unless another asset has it. @return that asset, or
-- nil (a took it)
local function claim(index, value, a)
  local other = index[value]
  if other == nil then
    index[value] = a
  end
  return other
end

local MAX_DUPLICATES = 100   -- duplicate rows remembered (all are counted)

local function index_closed(self, rows, filter, spec, origins, where)
  local by_symbol, by_broker, by_sid = self._by_symbol, self._by_broker, self._by_sid
  local stats = self.stats
  local dk = stats.duplicate_keys
  local list, n = self._list, 0
  local origin_of = {}   -- asset -> where its row came from
  stats.rows = #rows
  for i = 1, #rows do
    local row = rows[i]
    local keep = true
    if filter then
      local ok, res = pcall(filter, row, origins and origins[i])
      if not ok then
        error(sformat("%s.filter: row %d: %s", where, i, tostring(res)), 0)
      end
      keep = res and true or false
    end
    if not keep then
      stats.filtered = stats.filtered + 1
    else
      local fields = table_new(0, 16)
      for j = 1, #spec do
        local m = spec[j]
        local col = m[2]
        local v
        if type(col) == "function" then
          local ok, res = pcall(col, row)
          if not ok then
            error(sformat("%s: row %d: %s", field_path(m[1], where), i, tostring(res)), 0)
          end
          v = res
        else
          v = row[col]
        end
        if v ~= nil and v ~= "" then fields[m[1]] = v end
      end
      local sym = fields.symbol
      if sym == nil or (type(sym) ~= "string" and type(sym) ~= "number") then
        stats.skipped = stats.skipped + 1
      else
        local a, err = make_asset(fields)
        if not a then
          error(sformat("%s: row %d: %s", where, i, err), 0)
        end
        -- one lookup per key: a key another asset has is counted, the first such is remembered
        local used, dkey, dval, other = false, nil, nil, nil
        local prev = claim(by_symbol, a.symbol, a)
        if prev == nil then
          used = true
        else
          dk.symbol = dk.symbol + 1
          dkey, dval, other = "symbol", a.symbol, prev
        end
        prev = claim(by_broker, a.broker_symbol, a)
        if prev == nil then
          used = true
        else
          dk.broker_symbol = dk.broker_symbol + 1
          if not dkey then dkey, dval, other = "broker_symbol", a.broker_symbol, prev end
        end
        local sid = a.security_id
        if sid ~= nil then
          prev = claim(by_sid, sid, a)
          if prev == nil then
            used = true
            -- also index an integral id by its number, so security_id = 408065 needs no
            -- formatting; only when the number formats back to the same string
            local num = tonumber(sid)
            if num ~= nil and format_id(num) == sid and by_sid[num] == nil then
              by_sid[num] = a
            end
          else
            dk.security_id = dk.security_id + 1
            if not dkey then dkey, dval, other = "security_id", sid, prev end
          end
        end
        if dkey then
          stats.duplicates = stats.duplicates + 1
          local dups = self.duplicates
          if #dups < MAX_DUPLICATES then
            dups[#dups + 1] = { key = dkey, value = dval, first = origin_of[other] or "?",
              second = origins and origins[i] or ("row " .. i) }
          end
        end
        if used then
          n = n + 1
          list[n] = a
          origin_of[a] = origins and origins[i] or ("row " .. i)
        end
      end
    end
  end
  self._n = n
  stats.assets = n
end

--- One line per duplicate row (at most `max`, default 5, then a count): "symbol 'INFY': in
--- kite.csv row 1 and kite.csv row 8 (the first is used)".
function Universe:duplicate_lines(max)
  max = max or 5
  local out = {}
  for i, d in ipairs(self.duplicates or {}) do
    if i > max then
      out[#out + 1] = sformat("... and %d more", self.stats.duplicates - max)
      break
    end
    out[#out + 1] = sformat("%s %s: in %s and %s (lookups by %s find the first)", d.key,
      show(d.value), d.first, d.second, d.key)
  end
  return out
end

--- Builds the asset universe.
--- opts = { master = md|nil, base_dir, registry, ctx, filter = function(row, source)|nil,
---          assets = {symbol, ...}|nil, name = "default", where = "master_data" (the key path
---          of md, for errors), read = function(path) (feedhost.data.master_sources) }
--- With master data the universe is closed (unknown keys raise SymbolNotFound) and opts.assets
--- must all be known; without, it is open and opts.assets are created up front. Rows whose
--- symbol, broker_symbol or security_id another row already has are kept out of that key's
--- index and listed in u.duplicates ({key, value, first, second}: where both rows came from);
--- with md.duplicates = "error" the first one raises instead.
---@param opts table|nil
---@return table universe
function M.new(opts)
  opts = opts or {}
  local md = opts.master
  local where = opts.where or "master_data"
  local self
  if md ~= nil then
    self = new_universe(true)
    local rows, origins = master_sources.load(md, opts)
    local spec = compile_fields(md.fields, where)
    check_columns(spec, rows, where)
    local filter = opts.filter
    if filter == nil and type(md.filter) == "function" then filter = md.filter end
    if filter ~= nil and type(filter) ~= "function" then
      error(where .. ".filter: expected a compiled function, got " .. type(filter), 0)
    end
    index_closed(self, rows, filter, spec, origins, where)
    if md.duplicates == "error" and #self.duplicates > 0 then
      error(where .. ": " .. self:duplicate_lines(1)[1] .. " (duplicates = 'error')", 0)
    end
    self._infer = closed_infer(self._by_symbol, self._by_broker, self._by_sid)
  else
    self = new_universe(false)
    self._infer = open_infer(self)
  end
  self.name = opts.name or "default"
  if opts.assets ~= nil then
    self:resolve(opts.assets)
  end
  return self
end

return M
