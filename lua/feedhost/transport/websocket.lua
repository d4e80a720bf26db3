--- feedhost.transport.websocket: the WebSocket transport's Lua side (see feedhost.transport).
-- What is WebSocket here and nowhere else: ws:// and wss:// URLs (the C transport "ws": the
-- protocol, permessage-deflate included, done by the host over TCP or TLS), close codes, ping
-- frames when the line is quiet, and the words for why a handshake failed.
local sys = require("feedhost.sys.ffi")
local clock = require("feedhost.sys.clock")

local C = sys.C
local now = clock.mono

local M = { name = "websocket" }

M.DEFAULTS = {
  ping_interval = 20,   -- a ping when nothing arrived for this long (0: off)
  ping_timeout = 20,    -- nothing at all this long after a ping: the connection is dead
}

-- Close codes for the reasons the connection gives (1000 and the private range 4000-4999).
M.CLOSE_CODES = {
  shutdown = 1000, auth_failed = 4000, auth_rejected = 4001, auth_timeout = 4002, idle = 4003,
  ping_timeout = 4004, reload = 1000,
}
local REASONS = require("feedhost.transport").CLOSE_REASONS

--- ws://host:port/path?query -> { scheme, host, port, path, tls }, or nil, message
function M.parse_url(url)
  local scheme, rest = tostring(url):match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then
    return nil, "not a URL: " .. tostring(url)
  end
  scheme = scheme:lower()
  if scheme ~= "ws" and scheme ~= "wss" then
    return nil, "a WebSocket URL must start with ws:// or wss://: " .. url
  end
  local hostport, path = rest:match("^([^/?#]*)(.*)$")
  path = path:gsub("#.*$", "")
  if path == "" or path:sub(1, 1) == "?" then
    path = "/" .. path
  end
  local host, port = hostport:match("^%[([^%]]+)%]:?(%d*)$")
  if not host then
    host, port = hostport:match("^([^:]*):?(%d*)$")
  end
  if not host or host == "" then
    return nil, "no host in URL: " .. url
  end
  local tls = scheme == "wss"
  port = tonumber(port) or (tls and 443 or 80)
  return { scheme = scheme, host = host, port = port, path = path, tls = tls }
end

--- Why a connection failed, in the log's words. code: an FH_ERR_*, status: HTTP status or 0.
function M.describe_error(code, status, why)
  if code == C.FH_ERR_HTTP then
    return string.format("handshake refused: HTTP %d (%s)", status, why)
  elseif code == C.FH_ERR_TLS_CERT then
    return "TLS: " .. why .. " (--ca-file F or backend.options.ca_file trusts a CA; --insecure"
      .. " skips the check)"
  elseif code == C.FH_ERR_TLS then
    return why:find("^TLS") and why or ("TLS handshake failed: " .. why)
  elseif code == C.FH_ERR_HANDSHAKE or code == C.FH_ERR_CLOSED then
    return "handshake failed: " .. why
  end
  return "connect failed: " .. why
end

local Session = {}
Session.__index = Session

--- One attempt to connect. def: the connection definition (runtime): options, limits, tls,
-- heartbeat; conn: the runtime.connection that receives the events.
function M.session(R, def, conn)
  local options = def.options
  local hb = def.heartbeat
  return setmetatable({
    R = R, conn = conn, def = def,
    ping_interval = options.ping_interval or M.DEFAULTS.ping_interval,
    ping_timeout = hb.timeout or options.ping_timeout or M.DEFAULTS.ping_timeout,
    app_pings = hb.message == "ping",   -- the spec's heartbeat sends the pings itself
    last_rx = nil, sent_ping_at = nil,
  }, Session)
end

--- Starts connecting to `url` with handshake headers ({{name, value}, ...}).
-- @return true, or nil, message
function Session:open(url, headers)
  local u, err = M.parse_url(url)
  if not u then
    return nil, err
  end
  local def = self.def
  local hl = {}
  for _, h in ipairs(headers) do
    hl[#hl + 1] = h[1] .. ": " .. h[2]
  end
  local id, oerr = self.R:open("ws", {
    host = u.host, port = u.port, path = u.path, tls = u.tls, verify = def.verify,
    ca_file = def.ca_file, headers = table.concat(hl, "\n"), max_frame = def.limits.max_frame_bytes,
    deflate = def.options.deflate == true,
  }, self)
  if not id then
    return nil, oerr
  end
  self.id = id
  return true
end

--- Sends one frame ({text = s} or {binary = s}). @return true, or nil, message
function Session:send(frame)
  if not self.id then
    return nil, "not connected"
  end
  if frame.binary then
    return self.R:send(self.id, frame.binary, true)
  end
  return self.R:send(self.id, frame.text, false)
end

--- A ping frame now (the spec's heartbeat "ping").
function Session:ping()
  if self.id and self.R:ping(self.id) then
    self.sent_ping_at = self.sent_ping_at or now()
  end
end

--- Closes with the code of `why` (a feedhost.transport.CLOSE_REASONS key).
function Session:close(why)
  if self.id then
    self.R:close(self.id, M.CLOSE_CODES[why] or 1000, REASONS[why] or why)
  end
end

--- Gives up on the connection without a word: it is closed, and nothing more reaches `conn`.
function Session:abandon()
  self.conn = nil
  if self.id then
    self.R:close(self.id, 1000, "abandoned")
  end
end

--- The C counters of the connection, or nil.
function Session:stats()
  return self.id and self.R:stats(self.id)
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

-- ---- reactor events -> the connection (none once abandoned) ------------------------------------
function Session:on_open()
  self.last_rx = now()
  local c = self.conn
  if c then
    c:on_transport_open()
  end
end

function Session:on_frames(_, batch)
  self.last_rx = now()
  local c = self.conn
  if c then
    c:on_transport_frames(batch)
  end
end

function Session:on_pong()
  self.last_rx = now()
  local c = self.conn
  if c then
    c:on_alive()
  end
end

function Session:on_oversize(_, bytes)
  local c = self.conn
  if c then
    c:on_oversize(bytes)
  end
end

function Session:on_invalid(_, bytes, offset, sample)
  local c = self.conn
  if c then
    c:on_invalid(bytes, offset, sample)
  end
end

function Session:on_dropped(_, n)
  local c = self.conn
  if c then
    c:on_dropped(n)
  end
end

function Session:on_close(_, code, reason)
  self.id = nil
  local c = self.conn
  if c then
    c:on_transport_close(code, reason)
  end
end

function Session:on_error(_, code, status, why)
  self.id = nil
  local c = self.conn
  if c then
    c:on_transport_error(M.describe_error(code, status, why), status)
  end
end

function Session:on_callback_error(what, err)
  local c = self.conn
  if c then
    c:on_callback_error(what, err)
  end
end

return M
