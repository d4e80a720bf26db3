--- feedhost.data.assets: Asset objects, master data loading and the asset universe.
--
-- API
--   M.Asset                    metatable of assets (__name "Asset", __tostring and __json -> symbol)
--   M.FIELDS                   list of asset field names
--   M.new_asset(fields)        -> Asset; raises on a missing symbol or an unknown field
--   M.is_asset(v)              -> boolean
--   M.SymbolNotFound           metatable of SymbolNotFound errors (__tostring -> msg)
--   M.symbol_not_found(msg, key, value) -> a SymbolNotFound error object (not raised)
--   M.is_symbol_not_found(e)   -> boolean
--   M.format_id(v)             -> string: security ids as strings (408065 -> "408065")
--   M.parse_csv(text, delimiter, where) -> list of rows (column -> string); `where` prefixes errors
--   M.load_master(md, opts)    -> list of raw rows (see below)
--   M.universe(opts)           -> Universe
--
-- Universe
--   u:infer_asset{symbol = s} | {security_id = id} | {broker_symbol = b} -> Asset
--   u:infer_fn()               -> function(q) equivalent to u:infer_asset(q) (for broker.infer_asset)
--   u:get(symbol)              -> Asset or nil (never creates)
--   u:resolve(symbols)         -> list of Assets, in order, deduplicated; entries are trimmed and
--                                 empty ones skipped; Assets are accepted too
--   u:count()                  -> number of distinct assets
--   u:list()                   -> the assets in load/creation order (do not modify)
--   u.closed                   true with master data
--   u.stats                    { rows, filtered, assets, duplicates, duplicate_keys = {symbol=,
--                                broker_symbol=, security_id=}, skipped, created }
--
-- Errors
--   * Misuse (bad arguments, bad master_data) raises a string naming the key:
--     "master_data.file: cannot open 'x.csv': No such file or directory".
--   * An unknown symbol raises a table {kind = "SymbolNotFound", msg = "no asset with
--     symbol='XYZ'", key = "symbol", value = "XYZ"} (metatable M.SymbolNotFound) with error(e, 0).
--
-- Hot path: infer_asset allocates nothing and formats nothing when the asset is found. It checks
-- that exactly one of the three keys is given; another key beside a known one is only reported
-- when the lookup fails (detecting it costs a `next`, which LuaJIT 2.1 does not compile).
local util_text = require("feedhost.util.text")

local M = {}

local type, tostring, tonumber, pairs, ipairs, next, setmetatable, getmetatable, error, pcall =
  type, tostring, tonumber, pairs, ipairs, next, setmetatable, getmetatable, error, pcall
local sfind, ssub, sbyte, sformat, sgsub, slower, smatch =
  string.find, string.sub, string.byte, string.format, string.gsub, string.lower, string.match
local concat, sort = table.concat, table.sort
local show, number_text = util_text.show, util_text.number
local ok_new, table_new = pcall(require, "table.new")
if not ok_new then table_new = function() return {} end end

-- ---------------------------------------------------------------------------------------------
-- Asset
-- ---------------------------------------------------------------------------------------------

M.FIELDS = {
  "symbol", "broker_symbol", "security_id", "exchange", "name", "asset_class",
  "tick_size", "lot_size", "expiry", "strike", "option_type",
}
local IS_FIELD = {}
for _, f in ipairs(M.FIELDS) do IS_FIELD[f] = true end

local Asset = { __name = "Asset" }
Asset.__tostring = function(a) return a.symbol end
Asset.__json = function(a) return a.symbol end
M.Asset = Asset

---@param v any
---@return boolean
function M.is_asset(v)
  return getmetatable(v) == Asset
end

--- Formats a security id as a string: integral numbers without a fraction, int64 cdata
--- without its LL suffix, strings unchanged. Returns nil for anything else.
---@param v any
---@return string|nil
local function format_id(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return number_text(v) end
  if t == "cdata" then
    local s = tostring(v)
    local d = smatch(s, "^(%-?%d+)U?LL$")
    return d
  end
  return nil
end
M.format_id = format_id

local function trim(s)
  return (sgsub(s, "^%s+", ""):gsub("%s+$", ""))
end

-- a numeric string to a number (tonumber skips surrounding blanks), or the value unchanged
local function to_number(v)
  if type(v) == "string" then
    local n = tonumber(v)
    if n ~= nil then return n end
  end
  return v
end

local NFIELDS = #M.FIELDS
local FIELDS = M.FIELDS

-- Normalizes a fresh table holding only asset fields, in place. Returns the Asset, or nil and a
-- message. (No pairs(): this runs once per master data row.)
local function make_asset(a)
  for i = 1, NFIELDS do
    local f = FIELDS[i]
    if a[f] == "" then a[f] = nil end
  end
  local sym = a.symbol
  if type(sym) == "number" then sym = format_id(sym) end
  if type(sym) ~= "string" then
    return nil, "symbol is required (a non-empty string)"
  end
  a.symbol = sym
  local bs = a.broker_symbol
  if bs == nil then
    a.broker_symbol = sym
  elseif type(bs) == "number" then
    a.broker_symbol = format_id(bs)
  end
  local sid = a.security_id
  if sid ~= nil then
    local s = format_id(sid)
    if s == nil then
      return nil, "security_id must be a string or a number, got " .. type(sid)
    end
    a.security_id = s
  end
  local v = a.tick_size
  if v ~= nil then a.tick_size = to_number(v) end
  v = a.lot_size
  if v ~= nil then a.lot_size = to_number(v) end
  v = a.strike
  if v ~= nil then a.strike = to_number(v) end
  return setmetatable(a, Asset)
end

--- Builds an Asset. `symbol` is required (a non-empty string, or a number turned into one);
--- `broker_symbol` defaults to `symbol`; `security_id` is kept as a string; `tick_size`,
--- `lot_size` and `strike` become numbers when they are numeric strings. Empty strings count as
--- absent. An unknown field raises.
---@param fields table
---@return table asset
function M.new_asset(fields)
  if type(fields) ~= "table" then
    error("new_asset: expected a table of fields, got " .. type(fields), 2)
  end
  local a = {}
  for k, v in pairs(fields) do
    if not IS_FIELD[k] then
      error("new_asset: unknown field '" .. tostring(k) .. "'", 2)
    end
    a[k] = v
  end
  local asset, err = make_asset(a)
  if not asset then error("new_asset: " .. err, 2) end
  return asset
end
local new_asset = M.new_asset

-- ---------------------------------------------------------------------------------------------
-- SymbolNotFound
-- ---------------------------------------------------------------------------------------------

local SymbolNotFound = { __name = "SymbolNotFound" }
SymbolNotFound.__tostring = function(e) return e.msg end
M.SymbolNotFound = SymbolNotFound

---@param msg string
---@param key string|nil
---@param value any
---@return table
function M.symbol_not_found(msg, key, value)
  return setmetatable({ kind = "SymbolNotFound", msg = msg, key = key, value = value },
    SymbolNotFound)
end
local symbol_not_found = M.symbol_not_found

---@param e any
---@return boolean
function M.is_symbol_not_found(e)
  return type(e) == "table" and e.kind == "SymbolNotFound"
end

local function raise_not_found(key, value)
  local shown = value
  if key == "security_id" or type(value) == "number" then shown = format_id(value) or value end
  error(symbol_not_found("no asset with " .. key .. "=" .. show(shown), key, shown), 0)
end

-- ---------------------------------------------------------------------------------------------
-- CSV (RFC 4180, lenient about line endings)
-- ---------------------------------------------------------------------------------------------

local function line_of(text, pos)
  local n = 1
  local i = 0
  while true do
    i = sfind(text, "\n", i + 1, true)
    if i == nil or i >= pos then return n end
    n = n + 1
  end
end

--- Parses CSV text into rows keyed by the header row. Handles quoted fields (with the delimiter,
--- CR/LF and doubled quotes inside), CRLF or LF line ends, a UTF-8 BOM, blank lines (skipped) and
--- a missing final newline. Columns with an empty header name are dropped. A row with a different
--- number of fields than the header raises.
---@param text string
---@param delimiter string|nil one character, default ","
---@param where string|nil error prefix, e.g. "master_data.file: 'x.csv'"
---@return table rows
function M.parse_csv(text, delimiter, where)
  delimiter = delimiter or ","
  where = where or "csv"
  if type(delimiter) ~= "string" or #delimiter ~= 1 or delimiter == '"'
    or delimiter == "\n" or delimiter == "\r" then
    error(where .. ": delimiter must be one character (not a quote or newline)", 0)
  end
  local dbyte = sbyte(delimiter)
  local len = #text
  local pos = 1
  if ssub(text, 1, 3) == "\239\187\191" then pos = 4 end

  local function fail(msg, at)
    error(sformat("%s line %d: %s", where, line_of(text, at), msg), 0)
  end

  -- Line ends: "\n" or "\r\n"; a lone "\r" too when the text has one (then a pattern search).
  local find_eol
  if sfind(text, "\r[^\n]", pos) ~= nil or sbyte(text, len) == 13 then
    find_eol = function(p) return sfind(text, "[\r\n]", p) or (len + 1) end
  else
    find_eol = function(p)
      local e = sfind(text, "\n", p, true)
      if e == nil then return len + 1 end
      if e > p and sbyte(text, e - 1) == 13 then return e - 1 end
      return e
    end
  end
  -- cached positions of the next delimiter and line end: no search rescans the text
  local next_d, next_eol = 0, 0
  local rec = {}

  -- Reads one record at p into rec; returns its field count (0 for a blank line) and the
  -- position after its line end.
  local function read_record(p)
    local n = 0
    while true do
      if sbyte(text, p) == 34 then -- quoted field
        local parts, np = nil, 0
        local s = p + 1
        while true do
          local q = sfind(text, '"', s, true)
          if q == nil then fail("unterminated quoted field", p) end
          if sbyte(text, q + 1) == 34 then
            np = np + 1
            parts = parts or {}
            parts[np] = ssub(text, s, q) -- keeps one quote
            s = q + 2
          else
            n = n + 1
            if parts then
              parts[np + 1] = ssub(text, s, q - 1)
              rec[n] = concat(parts)
            else
              rec[n] = ssub(text, s, q - 1)
            end
            p = q + 1
            break
          end
        end
        local c = sbyte(text, p)
        if c == dbyte then
          p = p + 1
        elseif c == nil then
          return n, p
        elseif c == 10 then
          return n, p + 1
        elseif c == 13 then
          if sbyte(text, p + 1) == 10 then return n, p + 2 end
          return n, p + 1
        else
          fail("unexpected character after a closing quote", p)
        end
      else
        if next_d < p then next_d = sfind(text, delimiter, p, true) or (len + 1) end
        if next_eol < p then next_eol = find_eol(p) end
        n = n + 1
        if next_d < next_eol then
          rec[n] = ssub(text, p, next_d - 1)
          p = next_d + 1
        else
          local e = next_eol
          rec[n] = ssub(text, p, e - 1)
          if n == 1 and e == p then n = 0 end -- blank line
          if sbyte(text, e) == 13 and sbyte(text, e + 1) == 10 then return n, e + 2 end
          return n, e + 1
        end
      end
    end
  end

  -- header
  local ncol = 0
  while pos <= len and ncol == 0 do
    ncol, pos = read_record(pos)
  end
  if ncol == 0 then return {} end
  local header = {}
  for i = 1, ncol do
    local h = rec[i]
    if h ~= "" then
      for j = 1, i - 1 do
        if header[j] == h then fail("duplicate column '" .. h .. "'", 1) end
      end
    end
    header[i] = h
  end

  local rows, nrows = {}, 0
  while pos <= len do
    local start = pos
    local n
    n, pos = read_record(pos)
    if n > 0 then
      if n ~= ncol then
        fail(sformat("%d fields, the header has %d", n, ncol), start)
      end
      local row = table_new(0, ncol)
      for i = 1, ncol do
        local h = header[i]
        if h ~= "" then row[h] = rec[i] end
      end
      nrows = nrows + 1
      rows[nrows] = row
    end
  end
  return rows
end
local parse_csv = M.parse_csv

-- ---------------------------------------------------------------------------------------------
-- JSON
-- ---------------------------------------------------------------------------------------------

local function rows_from_json(text, where)
  local cjson = require "cjson"
  local ok, doc = pcall(cjson.decode, text)
  if not ok then
    error(where .. ": invalid JSON: " .. tostring(doc), 0)
  end
  local null = cjson.null
  local list = doc
  if type(doc) == "table" and doc.data ~= nil then list = doc.data end
  if type(list) ~= "table" or (next(list) ~= nil and list[1] == nil) then
    error(where .. ": expected a JSON array of objects, or an object with a 'data' array", 0)
  end
  local n = #list
  for i = 1, n do
    local row = list[i]
    if type(row) ~= "table" then
      error(sformat("%s: element %d is not an object", where, i), 0)
    end
    for k, v in pairs(row) do
      if v == null then row[k] = nil end
    end
  end
  return list
end

-- ---------------------------------------------------------------------------------------------
-- load_master
-- ---------------------------------------------------------------------------------------------

local FORMAT_BY_EXT = { csv = "csv", txt = "csv", tsv = "csv", json = "json" }

local function is_absolute(path)
  return ssub(path, 1, 1) == "/"
end

local function rows_from_text(text, fmt, md, where)
  if fmt == "csv" then
    return parse_csv(text, md.delimiter, where)
  elseif fmt == "json" then
    return rows_from_json(text, where)
  end
  error("master_data.format: expected 'csv' or 'json', got " .. show(fmt), 0)
end

local function check_rows(rows, where)
  if type(rows) ~= "table" then
    error(where .. ": expected a list of rows, got " .. type(rows), 0)
  end
  for i = 1, #rows do
    if type(rows[i]) ~= "table" then
      error(sformat("%s[%d]: expected a table, got %s", where, i, type(rows[i])), 0)
    end
  end
  return rows
end

--- Loads master data rows. `md` is the spec's `master_data` table; exactly one of:
---   file = path (relative to opts.base_dir), with format = "csv"|"json" (default: from the
---          extension; .tsv means a tab delimiter) and delimiter (CSV, default ",");
---   rows = inline list of tables;
---   custom = function(ctx) or a name in opts.registry, called with opts.ctx; it returns a list
---          of rows, or a string parsed by `format` (default "csv"); nil, err raises err.
--- Raises a string naming the key on any error.
---@param md table
---@param opts table|nil { base_dir, registry, ctx }
---@return table rows
function M.load_master(md, opts)
  opts = opts or {}
  if type(md) ~= "table" then
    error("master_data: expected a table, got " .. type(md), 0)
  end
  local given = {}
  for _, k in ipairs { "file", "rows", "custom" } do
    if md[k] ~= nil then given[#given + 1] = k end
  end
  if #given ~= 1 then
    error("master_data: give exactly one of file, rows, custom"
      .. (#given > 1 and (" (got " .. concat(given, ", ") .. ")") or ""), 0)
  end
  if md.format ~= nil and md.format ~= "csv" and md.format ~= "json" then
    error("master_data.format: expected 'csv' or 'json', got " .. show(md.format), 0)
  end

  if md.file ~= nil then
    local file = md.file
    if type(file) ~= "string" or file == "" then
      error("master_data.file: expected a path string", 0)
    end
    local path = file
    if not is_absolute(path) and opts.base_dir and opts.base_dir ~= "" then
      local base = opts.base_dir
      if ssub(base, -1) ~= "/" then base = base .. "/" end
      path = base .. path
    end
    local ext = smatch(file, "%.([%w]+)$")
    ext = ext and slower(ext)
    local fmt = md.format or (ext and FORMAT_BY_EXT[ext])
    if fmt == nil then
      error("master_data.format: cannot tell the format of '" .. file
        .. "' from its name; give format = \"csv\" or \"json\"", 0)
    end
    local delimiter = md.delimiter
    if delimiter == nil and ext == "tsv" then delimiter = "\t" end
    local f, err = io.open(path, "rb")
    if not f then
      err = tostring(err)
      if ssub(err, 1, #path + 2) == path .. ": " then err = ssub(err, #path + 3) end
      error("master_data.file: cannot open '" .. path .. "': " .. err, 0)
    end
    local text, rerr = f:read("*a")
    f:close()
    if text == nil then
      error("master_data.file: cannot read '" .. path .. "': " .. tostring(rerr), 0)
    end
    local where = "master_data.file: '" .. file .. "'"
    if fmt == "csv" then return parse_csv(text, delimiter, where) end
    return rows_from_json(text, where)
  end

  if md.rows ~= nil then
    return check_rows(md.rows, "master_data.rows")
  end

  local custom = md.custom
  local fn, label = custom, "master_data.custom"
  if type(custom) == "string" then
    fn = opts.registry and opts.registry[custom]
    if fn == nil then
      error("master_data.custom: no registry function '" .. custom .. "'", 0)
    end
    label = "master_data.custom: loader '" .. custom .. "'"
  end
  if type(fn) ~= "function" and not (getmetatable(fn) and getmetatable(fn).__call) then
    error("master_data.custom: expected a function or a registry name, got " .. type(fn), 0)
  end
  local ok, rows, err = pcall(fn, opts.ctx)
  if not ok then
    error(label .. " failed: " .. tostring(rows), 0)
  end
  if rows == nil then
    error(label .. " failed: " .. tostring(err or "returned nothing"), 0)
  end
  if type(rows) == "string" then
    return rows_from_text(rows, md.format or "csv", md, label)
  end
  return check_rows(rows, label)
end
local load_master = M.load_master

-- ---------------------------------------------------------------------------------------------
-- Universe
-- ---------------------------------------------------------------------------------------------

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
    stats = {
      rows = 0, filtered = 0, assets = 0, duplicates = 0, skipped = 0, created = 0,
      duplicate_keys = { symbol = 0, broker_symbol = 0, security_id = 0 },
    },
  }, Universe)
end

-- Builds the infer function of a closed universe (all lookups are single hash probes).
local function closed_infer(by_symbol, by_broker, by_sid)
  local function slow(q)
    check_query(q)
    local v = q.symbol
    if v ~= nil then
      if type(v) == "number" then
        local a = by_symbol[format_id(v)]
        if a then return a end
      end
      raise_not_found("symbol", v)
    end
    v = q.broker_symbol
    if v ~= nil then
      if type(v) == "number" then
        local a = by_broker[format_id(v)]
        if a then return a end
      end
      raise_not_found("broker_symbol", v)
    end
    v = q.security_id
    local s = format_id(v)
    local a = s and by_sid[s]
    if a then return a end
    raise_not_found("security_id", v)
  end
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
  return function(q)
    local s, sid, bs = q.symbol, q.security_id, q.broker_symbol
    if s ~= nil then
      if sid == nil and bs == nil then
        local a = by_symbol[s]
        if a ~= nil then return a end
      end
    elseif bs ~= nil and sid == nil then
      local a = by_broker[bs]
      if a ~= nil then return a end
    end
    return slow(q)
  end
end

local function field_path(f)
  return "master_data.fields." .. f
end

-- Compiles md.fields into a list of {field, column_or_function}.
local function compile_fields(fields)
  local spec = {}
  if fields ~= nil and type(fields) ~= "table" then
    error("master_data.fields: expected a table of asset field -> column name", 0)
  end
  fields = fields or {}
  for f, col in pairs(fields) do
    if not IS_FIELD[f] then
      error(field_path(tostring(f)) .. ": not an asset field (one of "
        .. concat(M.FIELDS, ", ") .. ")", 0)
    end
    if type(col) ~= "string" and type(col) ~= "function" then
      error(field_path(f) .. ": expected a column name or a function(row), got " .. type(col), 0)
    end
  end
  for _, f in ipairs(M.FIELDS) do
    local col = fields[f]
    if col == nil then col = f end -- a column named like the field
    spec[#spec + 1] = { f, col, fields[f] ~= nil }
  end
  return spec
end

-- Raises when a mapped column appears in none of the rows (a typo in master_data.fields).
local function check_columns(spec, rows)
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
        error(field_path(f) .. ": no column '" .. col .. "' in the master data (columns: "
          .. concat(cols, ", ") .. ")", 0)
      end
    end
  end
end

local function index_closed(self, rows, filter, spec)
  local by_symbol, by_broker, by_sid = self._by_symbol, self._by_broker, self._by_sid
  local stats = self.stats
  local dk = stats.duplicate_keys
  local list, n = self._list, 0
  stats.rows = #rows
  for i = 1, #rows do
    local row = rows[i]
    local keep = true
    if filter then
      local ok, res = pcall(filter, row)
      if not ok then
        error(sformat("master_data.filter: row %d: %s", i, tostring(res)), 0)
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
            error(sformat("%s: row %d: %s", field_path(m[1]), i, tostring(res)), 0)
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
          error(sformat("master_data: row %d: %s", i, err), 0)
        end
        local used, dup = false, false
        if by_symbol[a.symbol] == nil then
          by_symbol[a.symbol] = a
          used = true
        else
          dk.symbol = dk.symbol + 1
          dup = true
        end
        if by_broker[a.broker_symbol] == nil then
          by_broker[a.broker_symbol] = a
          used = true
        else
          dk.broker_symbol = dk.broker_symbol + 1
          dup = true
        end
        local sid = a.security_id
        if sid ~= nil then
          if by_sid[sid] == nil then
            by_sid[sid] = a
            used = true
            -- also index an integral id by its number, so security_id = 408065 needs no
            -- formatting; only when the number formats back to the same string
            local num = tonumber(sid)
            if num ~= nil and format_id(num) == sid and by_sid[num] == nil then
              by_sid[num] = a
            end
          else
            dk.security_id = dk.security_id + 1
            dup = true
          end
        end
        if dup then stats.duplicates = stats.duplicates + 1 end
        if used then
          n = n + 1
          list[n] = a
        end
      end
    end
  end
  self._n = n
  stats.assets = n
end

--- Builds the asset universe.
--- opts = { master = md|nil, base_dir, registry, ctx, filter = function(row)|nil,
---          assets = {symbol, ...}|nil }
--- With master data the universe is closed (unknown keys raise SymbolNotFound) and opts.assets
--- must all be known; without, it is open and opts.assets are created up front.
---@param opts table|nil
---@return table universe
function M.universe(opts)
  opts = opts or {}
  local md = opts.master
  local self
  if md ~= nil then
    self = new_universe(true)
    local rows = load_master(md, opts)
    local spec = compile_fields(md.fields)
    check_columns(spec, rows)
    local filter = opts.filter
    if filter == nil and type(md.filter) == "function" then filter = md.filter end
    if filter ~= nil and type(filter) ~= "function" then
      error("master_data.filter: expected a compiled function, got " .. type(filter), 0)
    end
    index_closed(self, rows, filter, spec)
    self._infer = closed_infer(self._by_symbol, self._by_broker, self._by_sid)
  else
    self = new_universe(false)
    self._infer = open_infer(self)
  end
  if opts.assets ~= nil then
    self:resolve(opts.assets)
  end
  return self
end

return M
