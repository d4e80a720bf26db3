--- feedhost.spec.codegen_out: a converter rule that writes its record's NDJSON line directly.
--
-- When the records of a connection go only to an NDJSON output (no store, no application
-- callback), the compiled converter does not build a record table: it writes the line into the
-- host's C buffer (host/codec/ndjson.h) member by member, keys encoded at compile time, values
-- encoded in C. The bytes are those of feedhost.data.record.ndjson for the table the rule would
-- have built (keys sorted, `channel` and `connection` first, nested tables sorted, an empty
-- table as `[]`, an Asset as its symbol, int64 as digits); values that are lists or tables the
-- spec computes go through the Lua encoder. A line left unfinished by an error is taken back
-- (pipeline.lua's fail).
local codegen = require("feedhost.spec.codegen")
local json = require("feedhost.util.json")

local M = {}

local is_value, is_list, sub_path = codegen.is_value, codegen.is_list, codegen.sub_path

-- The keys of a nested fields table in the encoder's order, or nil when one is not a string (the
-- table path is used then: numeric keys make arrays or mixed objects).
local function string_keys(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then
      return nil
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

--- Whether a rule's fields can be written directly: string keys all the way down (lists aside),
--- and no `channel` / `connection` field (the record's own, written first).
function M.supported(fields)
  if type(fields) ~= "table" or fields.channel ~= nil or fields.connection ~= nil then
    return false
  end
  local function walk(t)
    if is_value(t) or type(t) ~= "table" or is_list(t) then
      return true
    end
    local keys = string_keys(t)
    if not keys then
      return false
    end
    for _, k in ipairs(keys) do
      if not walk(t[k]) then
        return false
      end
    end
    return true
  end
  return walk(fields)
end

local tmp = 0

-- The member name `x` when value `v` is exactly `{ source = "num(data.x)" }` and `data` is a
-- tape token here: such a member is written from the frame's digits (tape.lua's out_num).
local function tape_num(g, v)
  if not (g.opts.tape and is_value(v) and type(v.source) == "string" and next(v, next(v)) == nil) then
    return nil
  end
  local names = g.opts.tape_names
  if names then
    local found = false
    for _, n in ipairs(names) do
      found = found or n == "data"
    end
    if not found then
      return nil
    end
  end
  return v.source:match("^%s*num%s*%(%s*data%s*%.%s*([%a_][%w_]*)%s*%)%s*$")
end

-- One member: its key, then its value; a nested table of values opens `{`, its members, `}`.
local function member(g, k, v, path)
  local key = g:const(json.encode_string(k) .. ":")
  if is_value(v) or type(v) ~= "table" or is_list(v) then
    tmp = tmp + 1
    local var = "o" .. tmp
    local x = tape_num(g, v)
    -- a number token written from its digits; anything else (a string, a missing member,
    -- infinity) takes the general path, which raises or leaves the member out as num() does
    g:emit((x and ("if not _JON(data, " .. string.format("%q", x) .. ", _OUTB, " .. key
      .. ") then ") or "") .. "do local " .. var, path)
    g:store(var, v, path)
    g:emit("if " .. var .. " ~= nil then _OKV(" .. key .. ", " .. var .. ") end end"
      .. (x and " end" or ""), path)
    return
  end
  g:emit("_OO(" .. key .. ")", path)
  for _, kk in ipairs(string_keys(v)) do
    member(g, kk, v[kk], sub_path(path, kk))
  end
  g:emit("_OC()", path)
end

--- Emits the statements writing the line of a rule's record: the pre-encoded
--- `"channel":..,"connection":..` prefix, the fields in the encoder's order, the end of line.
function M.emit(g, fields, path, channel, connection)
  local prefix = '"channel":' .. json.encode_string(channel) .. ',"connection":'
    .. json.encode_string(connection)
  g:emit("_OB(" .. g:const(prefix) .. ")", path)
  for _, k in ipairs(string_keys(fields)) do
    member(g, k, fields[k], sub_path(path, k))
  end
  g:emit("_OE()", path)
end

--- The functions the generated code calls (`_OB`, `_OKV`, `_OO`, `_OC`, `_OE`, `_OL`), writing
--- into `out` (an fh_out *) through `api`.
function M.writers(api, out)
  local ffi = require("ffi")
  local record = require("feedhost.data.record")
  local Asset = require("feedhost.data.asset").Asset
  local int64_t, uint64_t = ffi.typeof("int64_t"), ffi.typeof("uint64_t")
  local istype, getmetatable, type, error = ffi.istype, getmetatable, type, error
  local null, encode = json.null, json.encode
  local out_str, out_num, out_raw = api.out_str, api.out_num, api.out_raw
  local W = {}
  function W.begin(prefix)
    api.out_begin(out, prefix, #prefix)
  end
  --- Member `k` (its key pre-encoded: `"bid":`) of value `v`, as the Lua encoder writes `v`.
  function W.kv(k, v)
    local t = type(v)
    if t == "number" then
      if out_num(out, k, #k, v) ~= 0 then
        error("json: cannot encode non-finite number " .. tostring(v), 2)
      end
    elseif t == "string" then
      out_str(out, k, #k, v, #v)
    elseif t == "table" and getmetatable(v) == Asset and type(v.symbol) == "string" then
      out_str(out, k, #k, v.symbol, #v.symbol)
    elseif t == "boolean" then
      out_raw(out, k, #k, v and "true" or "false", v and 4 or 5)
    elseif t == "cdata" and istype(int64_t, v) then
      api.out_int64(out, k, #k, v)
    elseif t == "cdata" and istype(uint64_t, v) then
      api.out_uint64(out, k, #k, v)
    elseif v == null then
      out_raw(out, k, #k, "null", 4)
    else
      local s = encode(v)
      out_raw(out, k, #k, s, #s)
    end
  end
  function W.open(k)
    api.out_open(out, k, #k, 123)    -- {
  end
  function W.close()
    api.out_close(out, 125)   -- }
  end
  -- a dropped line (the output over its limit) is counted by the buffer itself
  function W.finish()
    api.out_end(out)
  end
  --- A record table made elsewhere (a custom converter): encoded in Lua, one line.
  function W.line(r)
    local s = record.ndjson(r, r.channel, r.connection)
    api.out_line(out, s, #s)
  end
  function W.cancel()
    api.out_cancel(out)
  end
  return W
end

return M
