--- feedhost.transport.websocket: the WebSocket transport's Lua side (see feedhost.transport).
-- What is WebSocket here and nowhere else: ws:// and wss:// URLs, the host's own framing (C
-- transport "ws": RFC 6455 and permessage-deflate over TCP or TLS), close codes, ping frames when
-- the line is quiet, and the words for why a handshake failed. Its session is the base of the
-- transports carried over WebSocket (Socket.IO).
local sys = require("feedhost.sys.ffi")
local clock = require("feedhost.sys.clock")
local session = require("feedhost.transport.session")

local C = sys.C
local now = clock.mono

local M = { name = "websocket" }

M.DEFAULTS = {
  ping_interval = 20,   -- a ping when nothing arrived for this long (0: off)
  ping_timeout = 20,    -- nothing at all this long after a ping: the connection is dead
}

local transport = require("feedhost.transport")

-- Close codes for the reasons the connection gives (1000 and the private range 4000-4999).

--- ws://host:port/path?query -> { scheme, host, port, path, tls }, or nil, message
function M.parse_url(url)
  return transport.url(url, { ws = false, wss = true }, "WebSocket")
end

--- Why a connection failed, in the log's words. code: an FH_ERR_*, status: HTTP status or 0.
function M.describe_error(code, status, why)
  if code == C.FH_ERR_HTTP then
    return string.format("handshake refused: HTTP %d (%s)", status, why)
  elseif code == C.FH_ERR_REFUSED then
    return "the server refused the session: " .. why
  elseif code == C.FH_ERR_HANDSHAKE or code == C.FH_ERR_CLOSED then
    return "handshake failed: " .. why
  end
  return session.Base.describe_error(nil, code, status, why)
end

local Session = session.class()
M.Session = Session   -- the base of transports carried over WebSocket (socketio)

function Session:describe_error(code, status, why)
  return M.describe_error(code, status, why)
end

--- One attempt to connect. def: the connection definition (runtime): options, limits, tls,
-- heartbeat; conn: the runtime.connection that receives the events.
function M.session(R, def, conn)
  local options = def.options
  local hb = def.heartbeat
  return setmetatable(session.new(R, def, conn, {
    ping_interval = options.ping_interval or M.DEFAULTS.ping_interval,
    ping_timeout = hb.timeout or options.ping_timeout or M.DEFAULTS.ping_timeout,
    app_pings = hb.message == "ping",   -- the spec's heartbeat sends the pings itself
  }), Session)
end

--- The options of a C transport carried over WebSocket to URL `u` (parsed) with handshake
-- headers ({{name, value}, ...}) for connection definition `def`.
function M.options(def, u, headers)
  return { host = u.host, port = u.port, path = u.path, tls = u.tls, verify = def.verify,
    ca_file = def.ca_file, headers = session.header_lines(headers),
    max_frame = def.limits.max_frame_bytes }
end

--- Starts connecting to `url` with handshake headers ({{name, value}, ...}).
-- @return true, or nil, message
function Session:open(url, headers)
  local u, err = self.parse_url(url)
  if not u then
    return nil, err
  end
  return self:start_on(u, M.options(self.def, u, headers))
end

Session.parse_url = M.parse_url   -- (a protocol carried over WebSocket has its own)

--- Opens the C transport with `opts` (M.options) for URL `u`: "ws", permessage-deflate if asked.
function Session:start_on(_, opts)
  opts.deflate = self.def.options.deflate == true
  return self:start("ws", opts)
end

--- A ping frame now (the spec's heartbeat "ping").
function Session:ping()
  if self.id and self.R:ping(self.id) then
    self.sent_ping_at = self.sent_ping_at or now()
  end
end

-- Liveness, every tick once open: a ping when the line is quiet; silence after a ping means the
-- peer is gone. @return "ping_timeout" and the seconds waited to give up, or nil
function Session:tick(t)
  local last = self.last_rx or t
  if self.sent_ping_at and last >= self.sent_ping_at then
    self.sent_ping_at = nil
  end
  if self.sent_ping_at and self.ping_timeout > 0 and t - self.sent_ping_at > self.ping_timeout then
    local waited = t - self.sent_ping_at
    self.sent_ping_at = nil
    return "ping_timeout", waited
  end
  if self.ping_interval > 0 and not self.app_pings and not self.sent_ping_at
    and t - last >= self.ping_interval then
    if self.R:ping(self.id) then
      self.sent_ping_at = t
    end
  end
  return nil
end

return M
