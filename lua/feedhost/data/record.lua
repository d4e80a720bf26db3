--- NDJSON record lines: `{"channel":...,"connection":...,<record fields sorted by key>}`.
--- Values follow `feedhost.util.json` encoding (an Asset as its symbol, int64 as a bare integer,
--- shortest round-trip numbers, nested tables sorted).
local buffer = require("string.buffer")
local json = require("feedhost.util.json")

local M = {}

local type, error, tostring = type, error, tostring

local encode_string, encode_number, write = json.encode_string, json.encode_number, json.write
local object_keys = json.object_keys

-- written first, from the arguments: never repeated from the record
local OWN_KEYS = { channel = true, connection = true }

-- A spare buffer and key list, taken while in use (a nested call gets fresh ones).
local buf = buffer.new()
local spare_keys = {}

--- One NDJSON line (without the trailing newline) for record `rec` on `channel` of
--- `connection`. `channel` / `connection` keys inside `rec` are not repeated: the arguments win
--- (a nil argument falls back to the record's own value; both nil: the member is left out).
--- Raises `json.encode: ... at <field path>` for a value that cannot be encoded.
---@param rec table
---@param channel string|nil
---@param connection string|nil
---@return string
function M.ndjson(rec, channel, connection)
  if type(rec) ~= "table" then
    error("record.ndjson: expected a record table, got " .. type(rec), 2)
  end
  if channel == nil then
    channel = rec.channel
  end
  if connection == nil then
    connection = rec.connection
  end
  local keys = spare_keys or {}
  spare_keys = nil
  local n, bad = object_keys(rec, keys, OWN_KEYS)
  if n == nil then
    error("record.ndjson: cannot encode a " .. type(bad) .. " key " .. tostring(bad), 2)
  end
  -- A nested call (from a __json hook) must not share the buffer in use: take it, give back.
  local b = buf or buffer.new()
  buf = nil
  b:put("{")
  local first = true
  if channel ~= nil then
    b:put('"channel":')
    write(b, channel, nil, "channel")
    first = false
  end
  if connection ~= nil then
    b:put(first and '"connection":' or ',"connection":')
    write(b, connection, nil, "connection")
    first = false
  end
  for i = 1, n do
    local k = keys[i]
    if not first then
      b:put(",")
    end
    first = false
    if type(k) == "string" then
      b:put(encode_string(k), ":")
    else
      b:put('"', encode_number(k), '":')
    end
    write(b, rec[k], nil, k)
  end
  b:put("}")
  local line = b:get()
  buf = b
  spare_keys = keys
  return line
end

return M
