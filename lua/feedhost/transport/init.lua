--- feedhost.transport: the transports a spec's `backend.type` names. Each is a module with:
--   name                       the backend type ("websocket", ...)
--   parse_url(url)             -> parts table, or nil, message (what the transport accepts)
--   session(R, def, conn)      -> a session: one attempt to connect, owned by runtime.connection
-- A session opens the connection on the reactor and turns the loop's events into the
-- connection's (conn:on_transport_open(), on_transport_frames(batch, t) (t: clock.mono() as the
-- batch came), on_transport_close(code, reason), on_transport_error(message, status),
-- on_alive(), on_oversize(bytes), on_dropped(n));
-- the connection calls session:open(url, headers), send(frame), ping(), close(why),
-- tick(now) (protocol liveness: returns a reason to give up on the connection, or nil) and
-- stats(). `why` is one of M.CLOSE_REASONS; each transport maps it to its own close code.
-- feedhost.transport.session holds what the sessions share.
-- Adding a transport: a module here and a line in M.BY_TYPE.
local M = {}

M.BY_TYPE = {
  websocket = "feedhost.transport.websocket",
  socketio = "feedhost.transport.socketio",
  mqtt = "feedhost.transport.mqtt",
  zmq = "feedhost.transport.zmq",
}

M.CLOSE_REASONS = {
  shutdown = "shutdown", auth_failed = "auth message failed", auth_rejected = "auth rejected",
  auth_timeout = "auth timeout", idle = "idle timeout", ping_timeout = "ping timeout",
  reload = "the spec changed (reload)",
}

-- Close codes for those reasons (WebSocket's 1000 and private range 4000-4999; the other
-- transports report them back as the code of their close).
M.CLOSE_CODES = {
  shutdown = 1000, auth_failed = 4000, auth_rejected = 4001, auth_timeout = 4002, idle = 4003,
  ping_timeout = 4004, reload = 1000,
}

--- The transport module of a backend type. @return module, or nil, message
function M.get(backend_type)
  local name = M.BY_TYPE[backend_type or "websocket"]
  if not name then
    local known = {}
    for k in pairs(M.BY_TYPE) do
      known[#known + 1] = k
    end
    table.sort(known)
    return nil, string.format("backend type '%s' is not supported by this version (supported: %s)",
      tostring(backend_type), table.concat(known, ", "))
  end
  return require(name)
end

--- scheme://host[:port][/path][?query] -> { scheme (lower case), host (IPv6 without brackets),
-- port (a number, or nil), path (the rest: path and query, "" when none) }, or nil, message.
function M.split_url(url)
  local scheme, rest = tostring(url):match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then
    return nil, "not a URL: " .. tostring(url)
  end
  local hostport, path = rest:match("^([^/?#]*)(.*)$")
  local host, port = hostport:match("^%[([^%]]+)%]:?(%d*)$")
  if not host then
    host, port = hostport:match("^([^:]*):?(%d*)$")
  end
  if not host or host == "" then
    return nil, "no host in URL: " .. url
  end
  return { scheme = scheme:lower(), host = host, port = tonumber(port), path = path }
end

--- A URL of one of `schemes` ({ scheme = true (TLS) | false }) -> { scheme, host, port, path,
-- tls }: the path without its fragment, "/" when empty (a query kept), the port by default 443
-- or 80. what: the kind of URL, for the message. @return it, or nil, message
function M.url(url, schemes, what)
  local u, err = M.split_url(url)
  if not u then
    return nil, err
  end
  if schemes[u.scheme] == nil then
    local list = {}
    for k in pairs(schemes) do
      list[#list + 1] = k .. "://"
    end
    table.sort(list)
    return nil, string.format("a %s URL must start with %s: %s", what, table.concat(list, " or "), url)
  end
  local path = u.path:gsub("#.*$", "")
  if path == "" or path:sub(1, 1) == "?" then
    path = "/" .. path
  end
  u.path, u.tls = path, schemes[u.scheme]
  u.port = u.port or (u.tls and 443 or 80)
  return u
end

--- Checks a ZeroMQ endpoint: tcp://host:port (a bind may use * for the host, or for the port:
-- any), ipc://path, inproc://name, pgm:// and epgm:// (interface;group:port).
-- @return { scheme, host, port, address }, or nil, message
function M.zmq_endpoint(s)
  local hint = "a ZeroMQ endpoint is tcp://host:port, ipc://path or inproc://name"
  if type(s) ~= "string" then
    return nil, hint .. ", got " .. type(s)
  end
  local scheme, rest = s:match("^(%a+)://(.*)$")
  scheme = scheme and scheme:lower()
  if scheme == "tcp" then
    local hostpart, port = rest:match("^(.*):([%d*!]+)$")
    local host = hostpart and (hostpart:match(";(.*)$") or hostpart)
    host = host and (host:match("^%[(.+)%]$") or host)
    local pn = tonumber(port)
    if not host or host == "" or host:find("[/%s]") or (pn and (pn < 1 or pn > 65535)) then
      return nil, hint .. " (tcp wants a host and a port 1-65535), got '" .. s .. "'"
    end
    return { scheme = scheme, host = host, port = pn, address = rest }
  elseif scheme == "ipc" or scheme == "inproc" then
    if rest == "" then
      return nil, hint .. " (" .. scheme .. " wants a name), got '" .. s .. "'"
    end
    return { scheme = scheme, address = rest }
  elseif scheme == "pgm" or scheme == "epgm" then
    if not rest:match("^[^;]+;[^:]+:%d+$") then
      return nil, hint .. " (" .. scheme .. " wants interface;group:port), got '" .. s .. "'"
    end
    return { scheme = scheme, address = rest }
  end
  return nil, hint .. ", got '" .. s .. "'"
end

--- The topics of a subscribe message (its `topics` value, or a registry builder's result): a
-- topic string, or a list of topic strings and {topic, qos} pairs ({"t/1", 1} or
-- {topic = "t/1", qos = 1}), as {{topic, qos}, ...} without repeats. @return list, or nil, message
function M.topic_list(topics, default_qos)
  if type(topics) == "string" then
    topics = { topics }
  end
  if type(topics) ~= "table" then
    return nil, "topics: expected a topic string or a list of topics, got " .. type(topics)
  end
  local list, seen = {}, {}
  for i, t in ipairs(topics) do
    local topic, qos = t, default_qos or 0
    if type(t) == "table" then
      topic, qos = t.topic or t[1], t.qos or t[2] or qos
    end
    if type(topic) ~= "string" then
      return nil, string.format("topics[%d]: expected a topic string, got %s", i, type(topic))
    end
    if topic:find("\0", 1, true) then
      return nil, string.format("topics[%d]: a topic cannot hold a NUL byte", i)
    end
    if qos ~= 0 and qos ~= 1 and qos ~= 2 then
      return nil, string.format("topics[%d]: QoS must be 0, 1 or 2, got %s", i, tostring(qos))
    end
    if not seen[topic] then
      seen[topic] = true
      list[#list + 1] = { topic, qos }
    end
  end
  return list
end

-- The topics of a rendered frame as { {item =, topic =, qos =}, ... } (item: as the frame gives
-- it; qos nil when it leaves it to the session), or nil: none, or ones the session will refuse.
local function topics_of(fr)
  local list = fr.topics
  if list == nil or not M.topic_list(list) then
    return nil
  end
  if type(list) == "string" then
    list = { list }
  end
  local out = {}
  for i, t in ipairs(list) do
    if type(t) == "table" then
      out[i] = { item = t, topic = t.topic or t[1], qos = t.qos or t[2] }
    else
      out[i] = { item = t, topic = t }
    end
  end
  return out
end

local function topic_key(t, with_qos)
  return with_qos and (t.topic .. "\0" .. tostring(t.qos)) or t.topic
end

local function topic_keys(frames, with_qos)
  local set = {}
  for _, fr in ipairs(frames) do
    for _, t in ipairs(topics_of(fr) or {}) do
      set[topic_key(t, with_qos)] = true
    end
  end
  return set
end

-- `frames` without the topics in `drop`; a frame left with no topic and nothing else is gone.
local function without_topics(frames, drop, with_qos)
  local out = {}
  for _, fr in ipairs(frames) do
    local list = topics_of(fr)
    if not list then
      out[#out + 1] = fr
    else
      local keep = {}
      for _, t in ipairs(list) do
        if not drop[topic_key(t, with_qos)] then
          keep[#keep + 1] = t.item
        end
      end
      if #keep > 0 or fr.text or fr.binary or fr.http then
        local copy = {}
        for k, v in pairs(fr) do
          copy[k] = v
        end
        copy.topics = keep
        out[#out + 1] = copy
      end
    end
  end
  return out
end

--- A live resubscription where subscriptions are topics (MQTT topics, ZeroMQ SUB prefixes):
-- what stays subscribed is neither withdrawn nor subscribed again. `unsub`: the old spec's
-- unsubscribe frames; `held`: its subscribe frames (what the session holds); `sub`: the new
-- spec's subscribe frames. A topic the new frames subscribe is left out of the unsubscribe frames
-- (an UNSUBSCRIBE, then a SUBSCRIBE, would lose what the broker or publisher sends in between),
-- and a topic held already (with the same QoS) is left out of the subscribe frames (a ZeroMQ SUB
-- counts its prefixes, so one subscribed twice would outlive its unsubscribe; a broker would send
-- retained messages again). Frames without topics (WebSocket, Socket.IO, a command's text) pass
-- as they are. @return unsubscribe frames, subscribe frames
function M.topic_changes(unsub, held, sub)
  return without_topics(unsub, topic_keys(sub, false), false),
    without_topics(sub, topic_keys(held, true), true)
end

--- The bytes of a subscribe request for C (loop.h FH_SEND_SUBSCRIBE): "<qos><topic>\0" each.
function M.encode_topics(list)
  local parts = {}
  for i, t in ipairs(list) do
    parts[i] = tostring(t[2]) .. t[1] .. "\0"
  end
  return table.concat(parts)
end

--- `n` random bytes as hex (for client ids that must not collide): from /dev/urandom, else
-- from the clock and math.random.
function M.random_hex(n)
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(n)
  if f then
    f:close()
  end
  if not bytes or #bytes < n then
    math.randomseed(tonumber(require("feedhost.sys.clock").now_ns() % 2147483647))
    local t = {}
    for i = 1, n do
      t[i] = string.char(math.random(0, 255))
    end
    bytes = table.concat(t)
  end
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

return M
