--- Expression helpers: `ts now num int str map filter split json` (DESIGN.md section 2, Values).
---
--- `M.make(env)` returns the helpers bound to an expression environment (string lambdas given
--- to `map` / `filter` are compiled in `env`). Helpers raise with `error(msg, 2)`, so the error
--- names the line of the expression that called them.
local ffi = require("ffi")
local json = require("feedhost.util.json")
local util_text = require("feedhost.util.text")
local timestamp = require("feedhost.spec.timestamp")

local M = {}

local type, tostring, tonumber, error, pcall = type, tostring, tonumber, error, pcall
local setmetatable, getmetatable = setmetatable, getmetatable
local find, sub, format = string.find, string.sub, string.format
local floor, ceil, huge = math.floor, math.ceil, math.huge
local load = load

local int64_t = ffi.typeof("int64_t")
local uint64_t = ffi.typeof("uint64_t")
local istype = ffi.istype
local array_mt = json.array_mt
local encode_number = json.encode_number

-- A short, quoted sample of a bad value for error messages.
local describe = util_text.describe
M.describe = describe

------------------------------------------------------------------------------------------------
-- ts
------------------------------------------------------------------------------------------------

--- Epoch nanoseconds (int64_t): see feedhost.spec.timestamp.
M.ts = timestamp.ts

------------------------------------------------------------------------------------------------
-- now
------------------------------------------------------------------------------------------------

--- The current time as int64_t epoch nanoseconds (the one clock, feedhost.sys.clock).
---@return ffi.cdata* int64_t
M.now = require("feedhost.sys.clock").now_ns

------------------------------------------------------------------------------------------------
-- num, int, str
------------------------------------------------------------------------------------------------

-- v as a finite-or-not number, or nil. Strings must be decimal (no hex, inf or nan).
local function to_num(v)
  local tv = type(v)
  if tv == "number" then
    -- 1e400 in a JSON frame reads as infinity: not a number a record can carry
    if v == v and v ~= huge and v ~= -huge then
      return v
    end
    return nil
  elseif tv == "string" then
    -- only decimal digits, sign, '.', exponent and surrounding spaces
    if find(v, "[^%d%s%.eE+-]") then
      return nil
    end
    local x = tonumber(v)
    if x and x == x and x ~= huge and x ~= -huge then
      return x
    end
  elseif tv == "cdata" and (istype(int64_t, v) or istype(uint64_t, v)) then
    return tonumber(v)
  end
  return nil
end

--- A number, or a numeric string (decimal, spaces trimmed), as a number; anything else raises.
---@param v any
---@return number
-- Why `who` refuses `v`: a number out of range gets its own words.
local function refuse(who, v)
  if type(v) == "number" then
    error(who .. ": expected a finite number, got " .. tostring(v)
      .. " (a JSON number beyond the double range, such as 1e400?)", 3)
  end
  error(who .. ": expected a number or numeric string, got " .. describe(v), 3)
end

function M.num(v)
  local x = to_num(v)
  if x == nil then
    refuse("num", v)
  end
  return x
end

--- `num(v)` truncated toward zero.
---@param v any
---@return number
function M.int(v)
  local x = to_num(v)
  if x == nil then
    refuse("int", v)
  end
  if x >= 0 then
    return floor(x)
  end
  return ceil(x)
end

--- A string: strings unchanged, integral numbers without a fraction (`1660`), other numbers in
--- the shortest form that reads back the same, booleans, int64 cdata, an Asset as its symbol.
---@param v any
---@return string
function M.str(v)
  local tv = type(v)
  if tv == "string" then
    return v
  elseif tv == "number" then
    if v ~= v or v == huge or v == -huge then
      error("str: cannot convert " .. describe(v), 2)
    end
    if v == floor(v) and v < 1e21 and v > -1e21 then
      if v == 0 then
        return "0"
      end
      return format("%.0f", v)
    end
    return encode_number(v)
  elseif tv == "boolean" then
    return v and "true" or "false"
  elseif tv == "cdata" then
    local s = json.int64_text(v)
    if s then
      return s
    end
  elseif tv == "table" then
    local mt = getmetatable(v)
    if type(mt) == "table" then
      if mt.__name == "Asset" and type(v.symbol) == "string" then
        return v.symbol
      elseif mt.__tostring then
        return tostring(v)
      end
    end
  end
  error("str: cannot convert " .. describe(v), 2)
end

------------------------------------------------------------------------------------------------
-- lambdas, map, filter, split
------------------------------------------------------------------------------------------------

local EMPTY_ENV = setmetatable({}, { __newindex = function() error("lambda: read-only env", 2) end })
local lambda_cache = setmetatable({}, { __mode = "k" }) -- env -> { src -> function }

local function compile_lambda(src, env)
  local p1 = find(src, "|", 1, true)
  if not p1 or find(src, "%S") ~= p1 then
    return nil, "a string lambda starts with '|params|'"
  end
  local p2 = find(src, "|", p1 + 1, true)
  if not p2 then
    return nil, "missing closing '|'"
  end
  local params = sub(src, p1 + 1, p2 - 1)
  if not find(params, "^%s*$") and not find(params, "^%s*[%a_][%w_]*%s*$")
    and not find(params, "^%s*[%a_][%w_]*%s*,%s*[%a_][%w_]*%s*$") then
    return nil, "parameters must be one or two names: " .. params
  end
  local body = sub(src, p2 + 1)
  if not find(body, "%S") then
    return nil, "empty body"
  end
  local code
  if find(params, "%S") then
    code = "local " .. params .. " = ...; return (" .. body .. "\n)"
  else
    code = "return (" .. body .. "\n)"
  end
  local name = "=" .. (#src > 50 and sub(src, 1, 47) .. "..." or src)
  return load(code, name, "t", env)
end

--- Compiles a string lambda `'|a| expr'` or `'|a, i| expr'` in `env` (default: an empty,
--- read-only env); cached per env and source. Raises on a malformed lambda.
---@param src string
---@param env table|nil
---@return function
function M.lambda(src, env)
  env = env or EMPTY_ENV
  local per_env = lambda_cache[env]
  if not per_env then
    per_env = {}
    lambda_cache[env] = per_env
  end
  local f = per_env[src]
  if f then
    return f
  end
  local err
  f, err = compile_lambda(src, env)
  if not f then
    error(format("invalid lambda %q: %s", src, tostring(err)), 2)
  end
  per_env[src] = f
  return f
end
local lambda = M.lambda

local function as_function(f, env, who)
  local tf = type(f)
  if tf == "function" then
    return f
  elseif tf == "string" then
    local ok, fn = pcall(lambda, f, env)
    if not ok then
      error(who .. ": " .. tostring(fn), 3)
    end
    return fn
  end
  error(who .. ": expected a function or a string lambda, got " .. describe(f), 3)
end

local function check_list(list, who)
  if type(list) ~= "table" then
    error(who .. ": expected a list, got " .. describe(list), 3)
  end
end

local null = json.null

--- `f(element, index)` for each element of `list`; positions are kept (a nil result is stored
--- as `json.null`). The result carries `json.array_mt`.
function M.map(list, f, env)
  check_list(list, "map")
  f = as_function(f, env, "map")
  local out = setmetatable({}, array_mt)
  for i = 1, #list do
    local v = f(list[i], i)
    if v == nil then
      v = null
    end
    out[i] = v
  end
  return out
end

--- The elements of `list` for which `f(element, index)` is truthy (`json.array_mt`).
function M.filter(list, f, env)
  check_list(list, "filter")
  f = as_function(f, env, "filter")
  local out, n = setmetatable({}, array_mt), 0
  for i = 1, #list do
    local v = list[i]
    if f(v, i) then
      n = n + 1
      out[n] = v
    end
  end
  return out
end

--- Splits `s` on the plain separator `sep`; empty fields are kept (`json.array_mt`).
---@param s string
---@param sep string
---@return string[]
function M.split(s, sep)
  if type(s) ~= "string" then
    error("split: expected a string, got " .. describe(s), 2)
  end
  if type(sep) ~= "string" or sep == "" then
    error("split: expected a non-empty separator string, got " .. describe(sep), 2)
  end
  local out, n, pos = setmetatable({}, array_mt), 0, 1
  local ls = #sep
  while true do
    local a = find(s, sep, pos, true)
    n = n + 1
    if not a then
      out[n] = sub(s, pos)
      return out
    end
    out[n] = sub(s, pos, a - 1)
    pos = a + ls
  end
end

--- The helpers bound to the expression environment `env`.
---@param env table|nil
---@return table
function M.make(env)
  local map, filter = M.map, M.filter
  return {
    ts = M.ts,
    now = M.now,
    num = M.num,
    int = M.int,
    str = M.str,
    split = M.split,
    map = function(list, f)
      check_list(list, "map")
      return map(list, as_function(f, env, "map"))
    end,
    filter = function(list, f)
      check_list(list, "filter")
      return filter(list, as_function(f, env, "filter"))
    end,
    json = {
      encode = json.encode,
      decode = json.decode,
      null = json.null,
      array = json.array,
      object = json.object,
    },
  }
end

return M
