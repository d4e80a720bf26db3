--- feedhost.transport.socketio: the Socket.IO transport's Lua side (see feedhost.transport).
-- The C transport "socketio" (host/net/sio.c) runs Engine.IO and Socket.IO over the host's own
-- WebSocket: the open packet, the namespace connect, answering pings, events to the batch with
-- their name as the frame's topic. Here: the handshake URL (http(s):// or ws(s):// spec URLs,
-- `path`, `EIO=3|4`, `transport=websocket`, the spec's query), the CONNECT payload (the auth
-- first message), emits built from messages (`event`, `namespace`), and liveness from the open
-- packet's pingInterval and pingTimeout: in v4 the server pings and silence past
-- pingInterval + pingTimeout gives up; in v3 the client pings every pingInterval and gives up
-- when no pong comes within pingTimeout.
local json = require("feedhost.util.json")
local clock = require("feedhost.sys.clock")
local websocket = require("feedhost.transport.websocket")
local session = require("feedhost.transport.session")

local now = clock.mono

local M = { name = "socketio" }

M.DEFAULTS = { eio = 4, path = "/socket.io/", namespace = "/",
  ping_interval = 25, ping_timeout = 20 }   -- until the open packet says otherwise (seconds)

local SCHEMES = { http = false, https = true, ws = false, wss = true }

--- http(s)://host:port/path?query (or ws(s)://) -> { scheme, host, port, path, query, tls },
-- or nil, message. `path` is the URL's path ("" when none), `query` its query ("" when none).
function M.parse_url(url)
  local u, err = require("feedhost.transport").url(url, SCHEMES, "Socket.IO")
  if not u then
    return nil, err
  end
  local path, query = u.path:match("^([^?]*)%??(.*)$")
  u.path = path == "/" and "" or path
  u.query = query
  return u
end

--- The request path of the WebSocket handshake: the Engine.IO path (options.path, else the
-- URL's path, else /socket.io/) with EIO, transport=websocket and the URL's query.
function M.handshake_path(u, options)
  local path = options.path or (u.path ~= "" and u.path) or M.DEFAULTS.path
  if path:sub(1, 1) ~= "/" then
    path = "/" .. path
  end
  if path:sub(-1) ~= "/" then
    path = path .. "/"
  end
  local q = "EIO=" .. (options.eio or M.DEFAULTS.eio) .. "&transport=websocket"
  if u.query ~= "" then
    q = q .. "&" .. u.query
  end
  return path .. "?" .. q
end

--- The Socket.IO packet text of an emit: 42[/ns,]["event",<arg>]. frame: a rendered message
-- ({event, namespace, text, format}); `ns`: the connection's namespace.
function M.emit_packet(frame, ns)
  ns = frame.namespace or ns or "/"
  local arg = frame.text
  if frame.format ~= "json" then
    arg = json.encode(frame.text)
  end
  return "42" .. (ns ~= "/" and (ns .. ",") or "") .. "[" .. json.encode(frame.event) .. ","
    .. arg .. "]"
end

--- The same for a binary argument: the packet announcing one attachment.
function M.binary_emit_packet(frame, ns)
  ns = frame.namespace or ns or "/"
  return "451-" .. (ns ~= "/" and (ns .. ",") or "") .. "[" .. json.encode(frame.event)
    .. ',{"_placeholder":true,"num":0}]'
end

local Session = setmetatable({}, { __index = websocket.Session })
Session.__index = Session

function M.session(R, def, conn)
  local options = def.options
  return setmetatable(session.new(R, def, conn, {
    eio = options.eio or M.DEFAULTS.eio,
    -- the namespace of packets (a v3 namespace's query only rides on its connect, in C)
    namespace = (options.namespace or M.DEFAULTS.namespace):match("^[^?]*"),
    namespace_connect = options.namespace or M.DEFAULTS.namespace,
    ping_interval = M.DEFAULTS.ping_interval, ping_timeout = M.DEFAULTS.ping_timeout,
  }), Session)
end

Session.parse_url = M.parse_url

--- Opens the "socketio" C transport (websocket.Session:open calls it): the Engine.IO path, the
-- version, the namespace and its CONNECT payload beside the WebSocket options.
function Session:start_on(u, opts)
  local def = self.def
  local ok, payload = pcall(def.c.connect_payload)
  if not ok then
    return nil, "cannot build the CONNECT payload: " .. tostring(payload)
  end
  opts.path, opts.eio, opts.namespace = M.handshake_path(u, def.options), self.eio, self.namespace_connect
  opts.auth = payload or ""
  return self:start("socketio", opts)
end

--- Emits a rendered message (its `event`; a binary one as an attachment). @return true, or nil,
-- message
function Session:send(frame)
  if not self.id then
    return nil, "not connected"
  end
  if not frame.event then
    return nil, "a Socket.IO message needs an event name"
  end
  if frame.binary then
    local ok, err = self.R:send(self.id, M.binary_emit_packet(frame, self.namespace), false)
    if not ok then
      return nil, err
    end
    local bin = self.eio < 4 and ("\4" .. frame.binary) or frame.binary
    return self.R:send(self.id, bin, true)
  end
  return self.R:send(self.id, M.emit_packet(frame, self.namespace), false)
end

--- The spec's heartbeat "ping": an Engine.IO ping in v3 (in v4 only the server pings).
function Session:ping()
  if self.id and self.eio < 4 and self.R:ping(self.id) then
    self.sent_ping_at = self.sent_ping_at or now()
  end
end

-- Liveness from the open packet's figures. @return "ping_timeout", seconds waited; or nil
function Session:tick(t)
  if self.eio >= 4 then
    local since = self.last_ping or self.opened_at or t
    local limit = self.ping_interval + self.ping_timeout
    if t - since > limit then
      return "ping_timeout", t - since
    end
    return nil
  end
  if self.sent_ping_at then
    if t - self.sent_ping_at > self.ping_timeout then
      local waited = t - self.sent_ping_at
      self.sent_ping_at = nil
      return "ping_timeout", waited
    end
  elseif t - (self.pinged_at or self.opened_at or t) >= self.ping_interval then
    if self.R:ping(self.id) then
      self.sent_ping_at, self.pinged_at = t, t
    end
  end
  return nil
end

-- ---- reactor events -> the connection --------------------------------------------------------
-- The namespace is connected; `text` is the Engine.IO open packet (sid, pingInterval, ...).
function Session:on_open(id, code, text)
  local t = now()
  self.opened_at, self.last_ping = t, t
  local ok, open = pcall(json.decode, text or "")
  if ok and type(open) == "table" then
    self.sid = open.sid
    if tonumber(open.pingInterval) then
      self.ping_interval = tonumber(open.pingInterval) / 1000
    end
    if tonumber(open.pingTimeout) then
      self.ping_timeout = tonumber(open.pingTimeout) / 1000
    end
  end
  websocket.Session.on_open(self, id, code, text)   -- last_rx, then the connection
end

-- A server ping (v4) or the pong to ours (v3).
function Session:on_pong(id)
  self.last_ping, self.sent_ping_at = now(), nil
  websocket.Session.on_pong(self, id)   -- last_rx, then the connection
end

return M
