--- JSON for feedhost: decoding through lua-cjson, a deterministic encoder in Lua.
---
--- Decoding: JSON `null` reads as nil (object members holding null are absent); inside arrays a
--- null keeps its position as `M.null`. Every decoded array carries `M.array_mt`, every empty
--- decoded object `M.object_mt`, so `[]` and `{}` survive a decode/encode round trip.
---
--- Encoding: object keys sorted (strings before numbers), nested tables too; numbers in the
--- shortest form that reads back to the same double; int64 cdata as bare integers; a table
--- whose metatable has `__json` is encoded as `mt.__json(t)`; an Asset as its `symbol`.
local cjson = require("cjson")
local ffi = require("ffi")
local buffer = require("string.buffer")

local M = {}

local type, pairs, next, tostring, tonumber = type, pairs, next, tostring, tonumber
local getmetatable, setmetatable, rawget, error = getmetatable, setmetatable, rawget, error
local byte, find, format, gsub, sub = string.byte, string.find, string.format, string.gsub, string.sub
local floor, huge = math.floor, math.huge
local sort, concat = table.sort, table.concat

-- A private cjson instance: configuring it does not change anyone else's `require "cjson"`.
local cj = cjson.new()
cj.decode_invalid_numbers(false) -- no NaN, Infinity or hex numbers
cj.decode_max_depth(1000)

--- The JSON null sentinel (the same light userdata as `cjson.null`). Only array elements read
--- as `M.null`; object members holding null are left out.
M.null = cjson.null

--- Metatable marking a table as a JSON array (also an empty one).
M.array_mt = { __name = "json.array" }
--- Metatable marking a table as a JSON object (needed for an empty one: `{}`).
M.object_mt = { __name = "json.object" }

local array_mt, object_mt, null = M.array_mt, M.object_mt, M.null

--- Marks `t` (default: a new table) as a JSON array.
---@param t table|nil
---@return table
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

--- Marks `t` (default: a new table) as a JSON object.
---@param t table|nil
---@return table
function M.object(t)
  return setmetatable(t or {}, object_mt)
end

------------------------------------------------------------------------------------------------
-- Decoding
------------------------------------------------------------------------------------------------

-- cjson decodes `[]` and `{}` to the same empty table. Before decoding, every empty object
-- `{ }` outside strings is rewritten to `{"<sentinel>":true}`; the sentinel key starts with byte
-- 0xFF, which no JSON escape can produce, and is chosen so that it does not occur in the text.
local function find_sentinel(s)
  local k = 0
  while true do
    local key = "\255fh" .. k
    if not find(s, '"' .. key .. '"', 1, true) then
      return key
    end
    k = k + 1
  end
end

local function mark_empty_objects(s)
  if not find(s, "{%s*}") then
    return s, nil
  end
  local key
  local parts, np = {}, 0
  local pos, last, len = 1, 1, #s
  while pos <= len do
    local i = find(s, '[{"]', pos)
    if not i then
      break
    end
    if byte(s, i) == 34 then -- '"': skip the string
      local j = i + 1
      while true do
        local q = find(s, '["\\]', j)
        if not q then
          j = len + 1
          break
        end
        if byte(s, q) == 92 then
          j = q + 2
        else
          j = q + 1
          break
        end
      end
      pos = j
    else -- '{'
      local _, e = find(s, "^%s*}", i + 1)
      if e then
        key = key or find_sentinel(s)
        np = np + 1
        parts[np] = sub(s, last, i)
        np = np + 1
        parts[np] = '"' .. key .. '":true}'
        last = e + 1
        pos = e + 1
      else
        pos = i + 1
      end
    end
  end
  if not key then
    return s, nil
  end
  parts[np + 1] = sub(s, last)
  return concat(parts), key
end

local function fix(t, key)
  if t[1] ~= nil then
    setmetatable(t, array_mt)
    for i = 1, #t do
      local v = t[i]
      if type(v) == "table" then
        fix(v, key)
      end
    end
    return
  end
  if next(t) == nil then
    setmetatable(t, array_mt) -- only `[]` decodes to an empty table here
    return
  end
  if key and t[key] ~= nil then -- a rewritten `{}`: the sentinel is its only key
    t[key] = nil
    setmetatable(t, object_mt)
    return
  end
  for k, v in pairs(t) do
    if v == null then
      t[k] = nil -- assigning nil to an existing field is allowed during traversal
    elseif type(v) == "table" then
      fix(v, key)
    end
  end
  if next(t) == nil then
    setmetatable(t, object_mt) -- e.g. {"a": null}
  end
end

local function decode(s)
  if type(s) ~= "string" then
    return false, "expected a string, got " .. type(s)
  end
  local text, key = mark_empty_objects(s)
  local ok, v = pcall(cj.decode, text)
  if not ok then
    if key then -- report positions in the original text
      local ok2, v2 = pcall(cj.decode, s)
      if not ok2 then
        v = v2
      end
    end
    return false, tostring(v)
  end
  if v == null then
    return true, nil
  end
  if type(v) == "table" then
    fix(v, key)
  end
  return true, v
end

--- Decodes a JSON text. Raises `"invalid JSON: <cjson message>"` (level 0) on bad input.
---@param s string
---@return any
function M.decode(s)
  local ok, v = decode(s)
  if not ok then
    error("invalid JSON: " .. v, 0)
  end
  return v
end

--- Decodes a JSON text; on bad input returns nil and `"invalid JSON: ..."`.
---@param s string
---@return any, string|nil
function M.decode_safe(s)
  local ok, v = decode(s)
  if not ok then
    return nil, "invalid JSON: " .. v
  end
  return v, nil
end

------------------------------------------------------------------------------------------------
-- Encoding
------------------------------------------------------------------------------------------------

local TWO53 = 2 ^ 53

--- The shortest text of `x` that reads back to the same double. Integral values below 2^53 are
--- written as integers (`100`). Raises on NaN and infinities.
---@param x number
---@return string
function M.encode_number(x)
  if x ~= x or x == huge or x == -huge then
    error("json: cannot encode non-finite number " .. tostring(x), 2)
  end
  if x == floor(x) and x < TWO53 and x > -TWO53 then
    return format("%d", x)
  end
  local s = format("%.15g", x)
  if tonumber(s) ~= x then
    s = format("%.16g", x)
    if tonumber(s) ~= x then
      s = format("%.17g", x)
    end
  end
  return s
end
local encode_number = M.encode_number

local escapes = {
  ['"'] = '\\"',
  ["\\"] = "\\\\",
  ["\b"] = "\\b",
  ["\f"] = "\\f",
  ["\n"] = "\\n",
  ["\r"] = "\\r",
  ["\t"] = "\\t",
}
for i = 0, 31 do
  local c = string.char(i)
  if not escapes[c] then
    escapes[c] = format("\\u%04x", i)
  end
end

--- A string as a JSON string literal (RFC 8259: `"`, `\` and control characters escaped; `/`
--- and non-ASCII bytes passed through).
---@param s string
---@return string
function M.encode_string(s)
  if find(s, '[%z\1-\31"\\]') then
    s = gsub(s, '[%z\1-\31"\\]', escapes)
  end
  return '"' .. s .. '"'
end
local encode_string = M.encode_string

local int64_t = ffi.typeof("int64_t")
local uint64_t = ffi.typeof("uint64_t")

--- The decimal text of an int64_t / uint64_t cdata, or nil for anything else.
---@return string|nil
function M.int64_text(v)
  if ffi.istype(int64_t, v) then
    return sub(tostring(v), 1, -3) -- strip "LL"
  elseif ffi.istype(uint64_t, v) then
    return sub(tostring(v), 1, -4) -- strip "ULL"
  end
  return nil
end
local int64_text = M.int64_text

local function is_ident(s)
  return find(s, "^[%a_][%w_]*$") ~= nil
end

-- Formats the key path of the value being encoded (only when an error is raised).
local function path_text(stack, depth)
  local out = {}
  for i = 1, depth do
    local k = stack[i]
    if type(k) == "number" then
      out[#out + 1] = "[" .. encode_number(k) .. "]"
    elseif is_ident(k) then
      out[#out + 1] = (i == 1 and "" or ".") .. k
    else
      out[#out + 1] = "[" .. format("%q", k) .. "]"
    end
  end
  if #out == 0 then
    return "(root)"
  end
  return concat(out)
end
M.path_text = path_text

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta == tb then
    return a < b
  end
  return ta == "string" -- strings before numbers
end

--- Fills `keys` with the keys of `t` but those in the set `skip` (nil: none), sorted: strings
--- (byte order) before numbers (numeric order). Entries of `keys` past them are cleared, so a
--- list can be reused. Returns their count, or nil and the first key found that is neither a
--- string nor a number (the caller reports it).
---@param t table
---@param keys table
---@param skip table|nil
---@return integer|nil n
---@return any bad_key
local function object_keys(t, keys, skip)
  local n, mixed = 0, false
  for k in pairs(t) do
    local tk = type(k)
    if tk ~= "string" then
      if tk ~= "number" then
        return nil, k
      end
      mixed = true
    end
    if not (skip and skip[k]) then
      n = n + 1
      keys[n] = k
    end
  end
  for i = n + 1, #keys do
    keys[i] = nil
  end
  if mixed then
    sort(keys, key_less)
  else
    sort(keys)
  end
  return n
end
M.object_keys = object_keys

--- The keys of `t`, sorted: strings (byte order) before numbers (numeric order). Raises on other
--- key types.
---@param t table
---@return string[]|number[]
function M.sorted_keys(t)
  local keys = {}
  local n, bad = object_keys(t, keys, nil)
  if n == nil then
    error("json: cannot encode a " .. type(bad) .. " key", 2)
  end
  return keys
end

local encode_value -- forward

local function fail(st, msg)
  error("json.encode: " .. msg .. " at " .. path_text(st.stack, st.depth), 0)
end

local function encode_key(buf, st, k)
  local tk = type(k)
  if tk == "string" then
    buf:put(encode_string(k), ":")
  elseif tk == "number" then
    if k ~= k or k == huge or k == -huge then
      fail(st, "cannot encode non-finite number key")
    end
    buf:put('"', encode_number(k), '":')
  else
    fail(st, "cannot encode a " .. tk .. " key")
  end
end

local function encode_object(buf, t, st, order)
  local skip
  if order then
    skip = {}
    for i = 1, #order do
      skip[order[i]] = true
    end
  end
  local keys = {}
  local n, bad = object_keys(t, keys, skip)
  if n == nil then
    st.depth = st.depth + 1
    st.stack[st.depth] = tostring(bad)
    fail(st, "cannot encode a " .. type(bad) .. " key")
  end
  buf:put("{")
  local first = true
  local depth = st.depth + 1
  st.depth = depth
  -- the order keys (those the table holds), then the rest
  local no = order and #order or 0
  for i = 1, no + n do
    local k
    if i <= no then
      k = order[i]
    else
      k = keys[i - no]
    end
    local v = t[k]
    if v ~= nil then
      if not first then
        buf:put(",")
      end
      first = false
      st.stack[depth] = k
      encode_key(buf, st, k)
      encode_value(buf, v, st)
    end
  end
  st.depth = depth - 1
  buf:put("}")
end

local function encode_array(buf, t, n, st)
  buf:put("[")
  local depth = st.depth + 1
  st.depth = depth
  for i = 1, n do
    if i > 1 then
      buf:put(",")
    end
    st.stack[depth] = i
    local v = t[i]
    if v == nil then
      buf:put("null")
    else
      encode_value(buf, v, st)
    end
  end
  st.depth = depth - 1
  buf:put("]")
end

local function encode_table(buf, t, st)
  local mt = getmetatable(t)
  if mt == array_mt then
    return encode_array(buf, t, #t, st)
  elseif mt == object_mt then
    return encode_object(buf, t, st, nil)
  elseif mt ~= nil then
    local hook = type(mt) == "table" and rawget(mt, "__json")
    local is_asset = type(mt) == "table" and rawget(mt, "__name") == "Asset"
    if is_asset and st.asset_as_symbol == false then
      hook = nil
    elseif type(hook) == "function" then
      if st.hooks >= 100 then
        fail(st, "__json hooks nested too deeply")
      end
      st.hooks = st.hooks + 1
      local v = hook(t)
      encode_value(buf, v == nil and null or v, st)
      st.hooks = st.hooks - 1
      return
    elseif is_asset and t.symbol ~= nil then
      return encode_value(buf, t.symbol, st)
    end
  end
  if st.seen[t] then
    fail(st, "circular reference")
  end
  if st.depth >= 1000 then
    fail(st, "nesting too deep")
  end
  -- An array: keys exactly 1..n (n >= 1); an empty unmarked table is `[]` too.
  local n, max, array = 0, 0, true
  for k in pairs(t) do
    n = n + 1
    if array then
      if type(k) == "number" and k >= 1 and k == floor(k) then
        if k > max then
          max = k
        end
      else
        array = false
      end
    end
  end
  st.seen[t] = true
  if array and max == n then -- includes the empty table
    encode_array(buf, t, n, st)
  else
    encode_object(buf, t, st, nil)
  end
  st.seen[t] = nil
end

encode_value = function(buf, v, st)
  local tv = type(v)
  if tv == "string" then
    buf:put(encode_string(v))
  elseif tv == "number" then
    if v ~= v or v == huge or v == -huge then
      fail(st, "cannot encode non-finite number " .. tostring(v))
    end
    buf:put(encode_number(v))
  elseif tv == "boolean" then
    buf:put(v and "true" or "false")
  elseif tv == "table" then
    encode_table(buf, v, st)
  elseif v == null then
    buf:put("null")
  elseif tv == "cdata" then
    local s = int64_text(v)
    if not s then
      fail(st, "cannot encode cdata " .. tostring(ffi.typeof(v)))
    end
    buf:put(s)
  elseif tv == "nil" then
    buf:put("null")
  else
    fail(st, "cannot encode a " .. tv)
  end
end

-- One spare buffer, reused; a nested encode (from a __json hook) takes a fresh one.
local spare

local function new_state(opts, path)
  return {
    stack = path and { path } or {},
    depth = path and 1 or 0,
    seen = {},
    hooks = 0,
    asset_as_symbol = opts and opts.asset_as_symbol,
  }
end

--- Encodes `v` as compact JSON.
--- opts.order: list of keys written first in the top-level object (the rest follow sorted);
--- opts.asset_as_symbol: `false` writes an Asset (metatable `__name == "Asset"`) as a table of
--- its fields instead of its `symbol` / `__json` result.
--- Raises `json.encode: <what> at <key path>` for functions, userdata, NaN, cycles.
---@param v any
---@param opts table|nil
---@return string
function M.encode(v, opts)
  local buf = spare or buffer.new()
  spare = nil
  local st = new_state(opts, nil)
  local order = opts and opts.order
  if order and type(v) == "table" then
    local mt = getmetatable(v)
    if mt == nil or mt == object_mt then
      st.seen[v] = true
      encode_object(buf, v, st, order)
    else
      encode_value(buf, v, st)
    end
  else
    encode_value(buf, v, st)
  end
  local s = buf:get()
  spare = buf
  return s
end

--- Appends the JSON text of `v` to a string.buffer `buf`; `path` names `v` in error messages.
---@param buf any string.buffer
---@param v any
---@param opts table|nil
---@param path string|number|nil
function M.write(buf, v, opts, path)
  encode_value(buf, v, new_state(opts, path))
end

return M
