--- feedhost.runtime.recorder: the capture writer behind `--record`: JSON lines that
-- `feedhost replay` reads ({"ts","connection","dir","text"|"binary"}, DESIGN.md section 5), with
-- a "topic" member for frames that carry one (a Socket.IO event name, an MQTT topic).
local json = require("feedhost.util.json")
local sys = require("feedhost.sys.ffi")
local clock = require("feedhost.sys.clock")

local M = {}

--- Opens a capture file for writing, readable and writable by its owner only (0600).
-- @return file, or nil, message
function M.open(path)
  local e = sys.api.file_private(path)
  local f, err = io.open(path, e == 0 and "w" or "r+")   -- on a failure, io.open says why
  if f and e ~= 0 then
    f:close()
    return nil, path .. ": cannot create it readable by its owner only (errno " .. e .. ")"
  end
  if not f then
    return nil, tostring(err)
  end
  f:setvbuf("line")
  return f
end

--- A recorder writing to `file`: function(conn, dir, binary, data, ts, topic) (ts: int64 epoch
-- ns, now when nil; topic: the frame's metadata, an MQTT or ZeroMQ topic or a Socket.IO event,
-- written as "topic"). opts: { redact = function(text) -> text (applied to text frames),
-- on_error = function(message) called once when a write fails; nothing more is written after it }
function M.new(file, opts)
  opts = opts or {}
  local b64, redact, failed = sys.base64, opts.redact, false
  return function(conn, dir, binary, data, ts, topic)
    if failed then
      return
    end
    ts = ts or clock.now_ns()
    local body
    if binary then
      body = '"binary":' .. json.encode(b64(data))
    else
      body = '"text":' .. json.encode(redact and redact(data) or data)
    end
    if topic then
      body = '"topic":' .. json.encode(topic) .. ',' .. body
    end
    local ok, err = file:write(string.format('{"ts":%s,"connection":%s,"dir":"%s",%s}\n',
      tostring(ts):gsub("LL$", ""), json.encode(conn), dir, body))
    if not ok then
      failed = true
      if opts.on_error then
        opts.on_error(tostring(err))
      end
    end
  end
end

return M
