--- feedhost.runtime.recorder: the capture writer behind `--record`: JSON lines that
-- `feedhost replay` reads ({"ts","connection","dir","text"|"binary"}, DESIGN.md section 5).
local json = require("feedhost.util.json")
local sys = require("feedhost.sys.ffi")
local clock = require("feedhost.sys.clock")

local M = {}

--- A recorder writing to `file`: function(conn, dir, binary, data, ts, topic) (ts: int64 epoch
-- ns, now when nil; topic: the frame's metadata, an MQTT or ZeroMQ topic, written as "topic").
function M.new(file)
  local b64 = sys.base64
  return function(conn, dir, binary, data, ts, topic)
    ts = ts or clock.now_ns()
    local body
    if binary then
      body = '"binary":' .. json.encode(b64(data))
    else
      body = '"text":' .. json.encode(data)
    end
    if topic then
      body = '"topic":' .. json.encode(topic) .. "," .. body
    end
    file:write(string.format('{"ts":%s,"connection":%s,"dir":"%s",%s}\n',
      tostring(ts):gsub("LL$", ""), json.encode(conn), dir, body))
  end
end

return M
