--- feedhost.data.asset: the Asset object and the SymbolNotFound error.
--
-- API
--   M.Asset                    metatable of assets (__name "Asset"; __tostring and __json give
--                                 the symbol)
--   M.FIELDS                   list of asset field names
--   M.IS_FIELD                 set of the same names (name -> true)
--   M.new_asset(fields)        -> Asset; raises on a missing symbol or an unknown field
--   M.make_asset(t)            -> Asset, or nil and a message: normalizes in place a fresh table
--                                 holding only asset fields (never raises; for master data rows)
--   M.is_asset(v)              -> boolean
--   M.symbol_of(a)             -> an Asset's symbol; a string (or anything else) unchanged
--   M.format_id(v)             -> string: security ids as strings (408065 -> "408065")
--   M.SymbolNotFound           metatable of SymbolNotFound errors (__tostring -> msg)
--   M.symbol_not_found(msg, key, value) -> a SymbolNotFound error object (not raised)
--   M.is_symbol_not_found(e)   -> boolean
--
-- A SymbolNotFound error is a table {kind = "SymbolNotFound", msg = "no asset with
-- symbol='XYZ'", key = "symbol", value = "XYZ"}; feedhost.data.universe raises it with error(e, 0).
local util_text = require("feedhost.util.text")

local M = {}

local type, tostring, tonumber, pairs, ipairs, setmetatable, getmetatable, error =
  type, tostring, tonumber, pairs, ipairs, setmetatable, getmetatable, error
local smatch = string.match
local number_text = util_text.number

-- ---------------------------------------------------------------------------------------------
-- Asset
-- ---------------------------------------------------------------------------------------------

M.FIELDS = {
  "symbol", "broker_symbol", "security_id", "exchange", "name", "asset_class",
  "tick_size", "lot_size", "expiry", "strike", "option_type",
}
local IS_FIELD = {}
for _, f in ipairs(M.FIELDS) do IS_FIELD[f] = true end
M.IS_FIELD = IS_FIELD

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

--- The symbol of an asset given as an Asset table or as its symbol string (a table without a
--- symbol, or anything else, is returned unchanged): the key assets are compared by.
---@param a table|string
---@return any
function M.symbol_of(a)
  return type(a) == "table" and a.symbol or a
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

--- Normalizes a fresh table holding only asset fields, in place (see new_asset). Returns the Asset,
--- or nil and a message. (No pairs(): this runs once per master data row.)
---@param a table
---@return table|nil asset
---@return string|nil err
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
M.make_asset = make_asset

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

---@param e any
---@return boolean
function M.is_symbol_not_found(e)
  return type(e) == "table" and e.kind == "SymbolNotFound"
end

return M
