--- feedhost.transport.zmq: the ZeroMQ transport's Lua side (see feedhost.transport; the C side is
-- host/net/zmq.c). What is ZeroMQ here and nowhere else: endpoints, the data socket with its
-- command and reply sockets, SUB prefixes, and where a message goes.
--
-- A connection is open as soon as its sockets are made (ZeroMQ connects and reconnects in the
-- background; a SUB socket never says it is connected): `heartbeat.idle_timeout` is how a silent
-- publisher is caught. The SUB socket's prefixes are `backend.options.subscribe_filter` (a string
-- or a list; default "", everything, when the spec has no subscribe messages) and the topics of
-- the subscribe messages (unsubscribe messages drop theirs). Text and binary messages go to the
-- command socket (`command_endpoint`), or to a data socket that can send (DEALER, PAIR).
local transport = require("feedhost.transport")
local session = require("feedhost.transport.session")

local M = { name = "zmq" }

M.parse_url = transport.zmq_endpoint

local Session = session.class()

--- One attempt to connect (see feedhost.transport).
function M.session(R, def, conn)
  return setmetatable(session.new(R, def, conn), Session)
end

-- The prefixes the SUB socket starts with.
local function filters(def)
  local f = def.options.subscribe_filter
  if f == nil then
    return def.spec.subscribe == nil and { "" } or {}
  end
  return type(f) == "string" and { f } or f
end

--- Makes the sockets on `url` (a ZeroMQ endpoint). @return true, or nil, message
function Session:open(url)
  local ok, err = transport.zmq_endpoint(url)
  if not ok then
    return nil, err
  end
  local def, o = self.def, self.def.options
  local started, oerr = self:start("zmq", {
    endpoint = url, socket_type = o.socket_type, bind = o.bind,
    command_endpoint = o.command_endpoint, command_socket_type = o.command_socket_type,
    reply_endpoint = o.reply_endpoint, rcvhwm = o.rcvhwm, sndhwm = o.sndhwm,
    binary = (def.spec.parser or {}).format == "binary", max_frame = def.limits.max_frame_bytes,
  })
  if not started then
    return nil, oerr
  end
  self.can_send = o.command_endpoint ~= nil or o.socket_type == "DEALER" or o.socket_type == "PAIR"
  local list = filters(def)
  if #list > 0 then
    return self:send_topics({ topics = list })
  end
  return true
end

--- Sends a message: its topics become SUB prefixes (before anything is sent, so the first
-- answers are not filtered out), its text or bytes go to the command socket.
-- @return true, or nil, message
function Session:send(frame)
  if not self.id then
    return nil, "not connected"
  end
  if frame.topics ~= nil then
    local ok, err = self:send_topics(frame, 0)
    if not ok then
      return nil, err
    end
  end
  if frame.text == nil and frame.binary == nil then
    return true
  end
  if not self.can_send then
    return nil, "no socket to send on: a " .. (self.def.options.socket_type or "SUB")
      .. " socket only receives (backend.options.command_endpoint adds one that sends)"
  end
  return session.Base.send(self, frame)
end

return M
