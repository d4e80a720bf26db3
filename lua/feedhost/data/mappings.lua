--- feedhost.data.mappings: broker value(s) -> canonical value.
--
-- Spec (DESIGN.md section 2):
--   mappings = {
--     order_status = { map = { open = { "new", "accepted" }, complete = "filled" },
--                      default = "open" },
--   }
--
-- API
--   M.compile(mappings_spec, path) -> table name -> mapping object
--                                  |  nil, errors   (ALL problems are collected, none raised)
--     `path` is the key path of the spec table, default "mappings". `errors` is a list of
--     {path = "mappings.order_status.map", msg = "'filled' is mapped to both complete and open"}
--     tables; tostring(err) gives "path: msg". A nil spec compiles to {}.
--   M.new(spec, path)              -> one mapping object | nil, errors (same checks)
--
-- Mapping object m (also has m.name, m.path, m.default, m.map = the spec's map):
--   m(x), m.to_canonical(x), m.to_blueshift(x)   broker value -> canonical value
--   m.to_broker(canonical)                        -> the first broker value of `canonical`
--                                                    (raises on an unknown canonical value)
-- Broker values compare as strings: 2 and "2" are the same value (numbers use integral
-- formatting, booleans "true"/"false"). Lookup order: exact match, then case-insensitive
-- match (a lower-cased form claimed by two canonical values is left out of the
-- case-insensitive index), then `default` when set; otherwise the call raises
-- "mappings.order_status: unknown value 'xyz'" at error level 2 (the caller's line).
-- A hit is one hash lookup: no allocation and no string formatting.
local util_text = require("feedhost.util.text")

local M = {}

local type, tostring, tonumber, pairs, ipairs, setmetatable, error =
  type, tostring, tonumber, pairs, ipairs, setmetatable, error
local sformat, slower, smatch = string.format, string.lower, string.match
local sort, concat = table.sort, table.concat
local floor = math.floor
local show, number_text = util_text.show, util_text.number

local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.path .. ": " .. e.msg end

local function is_ident(k)
  return type(k) == "string" and smatch(k, "^[%a_][%w_]*$") ~= nil
end

local function key_path(path, k)
  if type(k) == "number" then return sformat("%s[%d]", path, k) end
  if is_ident(k) then return path .. "." .. k end
  return sformat("%s[%q]", path, tostring(k))
end

-- the string form a broker value is compared by; nil for values that cannot be compared
local function as_string(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return number_text(v) end
  if t == "boolean" then return tostring(v) end
  return nil
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then return a < b end
    return type(a) < type(b)
  end)
  return keys
end

--- Compiles one mapping spec {map = {...}, default = ...}.
---@param spec table
---@param path string e.g. "mappings.order_status"
---@param name string|nil
---@return table|nil mapping
---@return table|nil errors
function M.new(spec, path, name)
  path = path or "mapping"
  local errs = {}
  local function err(p, msg)
    errs[#errs + 1] = setmetatable({ path = p, msg = msg }, Error)
  end
  if type(spec) ~= "table" then
    err(path, "expected a table {map = {...}, default = ...}, got " .. type(spec))
    return nil, errs
  end
  for k in pairs(spec) do
    if k ~= "map" and k ~= "default" then
      err(key_path(path, k), "unknown key (expected map, default)")
    end
  end
  local map = spec.map
  local default = spec.default
  if default ~= nil and as_string(default) == nil then
    err(path .. ".default", "expected a string, got " .. type(default))
  end
  local mpath = path .. ".map"
  if type(map) ~= "table" then
    err(mpath, "expected a table canonical -> broker value(s), got " .. type(map))
    return nil, errs
  end

  local exact = {}    -- broker value (string form, and number form) -> canonical
  local owner = {}    -- string form -> canonical (for the duplicate check)
  local lower = {}    -- lower-cased string form -> canonical, or false when ambiguous
  local first = {}    -- canonical -> first broker value
  local reported = {} -- string form -> true once a duplicate was reported

  local canonicals = sorted_keys(map)
  if #canonicals == 0 then err(mpath, "is empty") end
  for _, canon in ipairs(canonicals) do
    local cpath = key_path(mpath, canon)
    if type(canon) ~= "string" then
      err(cpath, "a canonical value must be a string")
    else
      local values = map[canon]
      local list = values
      if type(values) ~= "table" then list = { values } end
      if type(values) == "table" and #values == 0 then
        err(cpath, "expected a broker value or a non-empty list of them")
      end
      for k in pairs(list) do
        if type(k) ~= "number" or k < 1 or k > #list or k ~= floor(k) then
          err(key_path(cpath, k), "expected a list of broker values")
        end
      end
      for i = 1, #list do
        local v = list[i]
        local s = as_string(v)
        local vpath = type(values) == "table" and key_path(cpath, i) or cpath
        if s == nil then
          err(vpath, "expected a string or number broker value, got " .. type(v))
        else
          if first[canon] == nil then first[canon] = v end
          local prev = owner[s]
          if prev ~= nil and prev ~= canon then
            if not reported[s] then
              reported[s] = true
              err(mpath, sformat("%s is mapped to both %s and %s", show(s), prev, canon))
            end
          elseif prev == nil then
            owner[s] = canon
            exact[s] = canon
            if type(v) ~= "string" then exact[v] = canon end
            -- a numeric string also matches the number itself (2 and "2")
            local n = tonumber(s)
            if n ~= nil and as_string(n) == s and exact[n] == nil then exact[n] = canon end
            local l = slower(s)
            local lp = lower[l]
            if lp == nil then
              lower[l] = canon
            elseif lp ~= canon then
              lower[l] = false -- ambiguous without case: only exact matches
            end
          end
        end
      end
    end
  end
  if #errs > 0 then return nil, errs end

  local unknown_prefix = path .. ": unknown value "
  local has_default = default ~= nil

  -- Off the hot path: string conversion and case folding, then the default. Reached by a tail
  -- call from the mapping, so error level 2 is the mapping's caller.
  local function miss(x)
    local s = as_string(x)
    if s ~= nil then
      local c = exact[s]
      if c ~= nil then return c end
      c = lower[slower(s)]
      if c then return c end
    end
    if has_default then return default end
    error(unknown_prefix .. show(x), 2)
  end

  local function to_canonical(x)
    local c = exact[x]
    if c ~= nil then return c end
    return miss(x)
  end

  local function to_broker(canonical)
    local v = first[canonical]
    if v == nil then
      error(path .. ": unknown canonical value " .. show(canonical), 2)
    end
    return v
  end

  local obj = {
    name = name,
    path = path,
    default = default,
    map = map,
    to_canonical = to_canonical,
    to_blueshift = to_canonical,
    to_broker = to_broker,
  }
  return setmetatable(obj, {
    __name = "Mapping",
    __call = function(_, x)
      local c = exact[x]
      if c ~= nil then return c end
      return miss(x)
    end,
    __tostring = function() return "Mapping(" .. path .. ")" end,
  })
end

--- Compiles the spec's `mappings` table. Returns name -> mapping, or nil and the list of every
--- error found (each {path=, msg=}, printing as "path: msg").
---@param mappings_spec table|nil
---@param path string|nil default "mappings"
---@return table|nil mappings
---@return table|nil errors
function M.compile(mappings_spec, path)
  path = path or "mappings"
  if mappings_spec == nil then return {} end
  if type(mappings_spec) ~= "table" then
    return nil, { setmetatable({ path = path, msg = "expected a table of name -> mapping, got "
      .. type(mappings_spec) }, Error) }
  end
  local out, errs = {}, {}
  for _, name in ipairs(sorted_keys(mappings_spec)) do
    local p = key_path(path, name)
    if type(name) ~= "string" then
      errs[#errs + 1] = setmetatable({ path = p, msg = "a mapping name must be a string" }, Error)
    else
      local m, e = M.new(mappings_spec[name], p, name)
      if m then
        out[name] = m
      else
        for _, x in ipairs(e) do errs[#errs + 1] = x end
      end
    end
  end
  if #errs > 0 then return nil, errs end
  return out
end

--- Formats a list of errors as "path: msg" lines.
---@param errs table
---@return string
function M.format_errors(errs)
  local lines = {}
  for i, e in ipairs(errs) do lines[i] = tostring(e) end
  return concat(lines, "\n")
end

return M
