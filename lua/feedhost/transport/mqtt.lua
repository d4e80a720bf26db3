--- feedhost.transport.mqtt: the MQTT transport's Lua side (see feedhost.transport; the C side is
-- host/net/mqtt.c over paho's MQTTAsync). What is MQTT here and nowhere else: tcp://, ssl://,
-- ws://, wss:// (and mqtt://, mqtts://) URLs, the session's login and client id, subscribe
-- messages as topic subscriptions, and the broker's answers.
--
-- The login comes from `auth = { mode = "login", username = value, password = value }`, else
-- `backend.options.username` / `password`, else the credentials' `username` / `password`. The
-- client id is `backend.options.client_id` (default "feedhost-{random}", `{random}` 16 random hex
-- digits), made once per connection and kept over its reconnects, so a persistent session
-- (`clean_session = false`) resumes; a reload that changes `client_id` makes it anew. Liveness
-- is MQTT's keepalive (paho pings; a dead broker is a lost connection); the spec's heartbeat ping
-- is a no-op here.
local transport = require("feedhost.transport")
local session = require("feedhost.transport.session")

local M = { name = "mqtt" }

M.DEFAULTS = { client_id = "feedhost-{random}", keepalive = 30, qos = 0, connect_timeout = 10 }

-- scheme -> default port, TLS, WebSocket
local SCHEMES = {
  tcp = { 1883, false, false }, mqtt = { 1883, false, false },
  ssl = { 8883, true, false }, mqtts = { 8883, true, false },
  ws = { 80, false, true }, wss = { 443, true, true },
}

--- tcp://host:port (ssl, ws, wss, mqtt, mqtts) -> { scheme, host, port, path, tls, ws }, or nil,
-- message. `websockets`: the seed's `transport = "websockets"` (tcp and ssl become ws and wss).
function M.parse_url(url, websockets)
  local u, err = transport.split_url(url)
  local kind = u and SCHEMES[u.scheme]
  if not kind then
    return nil, u and ("an MQTT URL must start with tcp://, ssl://, ws://, wss://, mqtt:// or"
      .. " mqtts://: " .. url) or err
  end
  u.tls, u.ws = kind[2], kind[3] or websockets == true
  u.port = u.port or kind[1]
  u.path = u.ws and (u.path ~= "" and u.path or "/mqtt") or ""
  return u
end

--- paho's server URI for parsed URL `u`.
function M.paho_uri(u)
  local scheme = u.ws and (u.tls and "wss" or "ws") or (u.tls and "ssl" or "tcp")
  local host = u.host:find(":", 1, true) and ("[" .. u.host .. "]") or u.host
  return string.format("%s://%s:%d%s", scheme, host, u.port, u.path)
end

-- The session's user name and password (see the top), or nils.
local function login(def)
  if def.c.login then
    local t = def.c.login()
    return t.username, t.password
  end
  local o = def.options
  if o.username then
    return o.username, o.password
  end
  local creds = def.c.ctx.credentials or {}
  return creds.username, creds.password
end

local Session = session.class()

--- One attempt to connect (see feedhost.transport).
function M.session(R, def, conn)
  return setmetatable(session.new(R, def, conn), Session)
end

--- Starts connecting to `url` (handshake headers do not apply). @return true, or nil, message
function Session:open(url)
  local def, o = self.def, self.def.options
  local u, err = M.parse_url(url, o.transport == "websockets")
  if not u then
    return nil, err
  end
  local conn = self.conn
  local template = o.client_id or M.DEFAULTS.client_id
  if conn.mqtt_client_id_of ~= template then   -- the first session, or a reload changed it
    conn.mqtt_client_id = template:gsub("{random}", function()
      return transport.random_hex(8)
    end)
    conn.mqtt_client_id_of = template
  end
  local ok, user, password = pcall(login, def)
  if not ok then
    return nil, "cannot build the login: " .. tostring(user)
  end
  if password then
    conn.log:add_secret(password)
  end
  local parser = def.spec.parser or {}
  local kw = o.tls_kwargs or {}
  return self:start("mqtt", {
    uri = M.paho_uri(u), client_id = conn.mqtt_client_id, username = user, password = password,
    keepalive = o.keepalive or M.DEFAULTS.keepalive, clean_session = o.clean_session ~= false,
    connect_timeout = o.connect_timeout or M.DEFAULTS.connect_timeout, verify = def.verify,
    ca_file = o.ca_file or kw.ca_certs or def.ca_file, cert_file = kw.certfile,
    key_file = kw.keyfile, binary = parser.format == "binary",
    max_queued = o.max_queued, max_frame = def.limits.max_frame_bytes,
  })
end

--- Sends a subscribe message: its topics as one SUBSCRIBE (UNSUBSCRIBE for an unsubscribe
-- message). @return true, or nil, message
function Session:send(frame)
  if not self.id then
    return nil, "not connected"
  end
  if frame.topics == nil then
    return nil, "an MQTT connection sends subscriptions only: give the message `topics` (or a"
      .. " `custom` topics builder)"
  end
  return self:send_topics(frame, self.def.options.qos or M.DEFAULTS.qos)
end

function Session:on_open(_, _, client_id)
  self.conn.log:info("MQTT session open as client %s", tostring(client_id))
  session.Base.on_open(self)
end

return M
