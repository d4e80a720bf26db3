--- feedhost.transport.session: what the sessions of every transport share (see feedhost.transport):
-- the reactor's events turned into the connection's, sending, closing and the C counters. A
-- transport's session is a table whose metatable's __index chains to its own methods, then
-- these:
--
--   local Session = session.class()          -- Session.__index = Session, falling back here
--   function Session:open(url, headers) ... return self:start("ws", { ... }) end
--   return setmetatable(session.new(R, def, conn, { ... }), Session)
local sys = require("feedhost.sys.ffi")
local clock = require("feedhost.sys.clock")
local transport = require("feedhost.transport")

local C = sys.C
local now = clock.mono

local M = {}

local Base = {}
Base.__index = Base
M.Base = Base

--- A session class falling back to the shared methods.
function M.class()
  local cls = setmetatable({}, { __index = Base })
  cls.__index = cls
  return cls
end

--- The fields every session has; `extra` adds the transport's own.
function M.new(R, def, conn, extra)
  local s = { R = R, conn = conn, def = def, last_rx = nil }
  for k, v in pairs(extra or {}) do
    s[k] = v
  end
  return s
end

--- Handshake headers ({{name, value}, ...}) as the C transports take them: "Name: value" lines.
function M.header_lines(headers)
  local hl = {}
  for _, h in ipairs(headers) do
    hl[#hl + 1] = h[1] .. ": " .. h[2]
  end
  return table.concat(hl, "\n")
end

--- Opens C transport `name` with `opts`, this session taking its events. @return true, or nil,
-- message
function Base:start(name, opts)
  local id, err = self.R:open(name, opts, self)
  if not id then
    return nil, err
  end
  self.id = id
  return true
end

--- Sends one text or binary frame ({text = s} or {binary = s}). @return true, or nil, message
function Base:send(frame)
  if not self.id then
    return nil, "not connected"
  end
  if frame.binary then
    return self.R:send(self.id, frame.binary, true)
  end
  return self.R:send(self.id, frame.text, false)
end

--- Sends the topics of a frame as one subscribe (or, for frame.request == "unsubscribe", one
-- unsubscribe) request. @return true, or nil, message
function Base:send_topics(frame, default_qos)
  local list, err = transport.topic_list(frame.topics, default_qos)
  if not list then
    return nil, err
  end
  if #list == 0 then
    return true
  end
  return self.R:subscribe(self.id, transport.encode_topics(list), frame.request == "unsubscribe")
end

--- Closes with the code of `why` (a feedhost.transport.CLOSE_REASONS key).
function Base:close(why)
  if self.id then
    self.R:close(self.id, transport.CLOSE_CODES[why] or 1000, transport.CLOSE_REASONS[why] or why)
  end
end

--- Gives up on the connection without a word (a handshake past its time): it is closed, and
-- nothing more reaches `conn`.
function Base:abandon()
  self.conn = nil
  if self.id then
    self.R:close(self.id, 1000, "abandoned")
  end
end

--- The spec's heartbeat "ping": a no-op where the protocol pings by itself.
function Base:ping()
end

--- Protocol liveness, every tick once open: nothing to give up on by default.
function Base:tick()
  return nil
end

--- The C counters of the connection, or nil.
function Base:stats()
  return self.id and self.R:stats(self.id)
end

--- Why a connection failed, in the log's words (code: an FH_ERR_*, status: HTTP status or 0).
function Base:describe_error(code, status, why)
  if code == C.FH_ERR_TLS_CERT then
    return "TLS: " .. why:gsub("^TLS: ", "") .. " (--ca-file F or backend.options.ca_file trusts"
      .. " a CA; --insecure skips the check)"
  elseif code == C.FH_ERR_TLS then
    return why:find("^TLS") and why or ("TLS handshake failed: " .. why)
  elseif code == C.FH_ERR_REFUSED or code == C.FH_ERR_OPTIONS then
    return why
  end
  return "connect failed: " .. why
end

-- ---- reactor events -> the connection (none once abandoned) ----------------------------------
function Base:on_open()
  self.last_rx = now()
  local c = self.conn
  if c then
    c:on_transport_open()
  end
end

function Base:on_frames(_, batch)
  local t = now()   -- one clock read per batch, for the session and the connection
  self.last_rx = t
  local c = self.conn
  if c then
    c:on_transport_frames(batch, t)
  end
end

function Base:on_pong()
  self.last_rx = now()
  local c = self.conn
  if c then
    c:on_alive()
  end
end

function Base:on_oversize(_, bytes)
  local c = self.conn
  if c then
    c:on_oversize(bytes)
  end
end

function Base:on_invalid(_, bytes, offset, sample)
  local c = self.conn
  if c then
    c:on_invalid(bytes, offset, sample)
  end
end

function Base:on_dropped(_, n)
  local c = self.conn
  if c then
    c:on_dropped(n)
  end
end

--- The peer's answer to a subscribe request: refusals are the connection's errors.
function Base:on_subscribed(_, granted, refused, text)
  local c = self.conn
  if not c then
    return
  end
  if refused > 0 then
    c:on_transport_warning("subscribe", string.format("%d topic%s not subscribed: %s",
      refused, refused == 1 and "" or "s", text ~= "" and text or "refused"))
  elseif granted > 0 then
    c.log:debug("subscriptions granted: %d", granted)
  end
end

function Base:on_close(_, code, reason)
  self.id = nil
  local c = self.conn
  if c then
    c:on_transport_close(code, reason)
  end
end

function Base:on_error(_, code, status, why)
  self.id = nil
  local c = self.conn
  if c then
    c:on_transport_error(self:describe_error(code, status, why), status)
  end
end

function Base:on_callback_error(what, err)
  local c = self.conn
  if c then
    c:on_callback_error(what, err)
  end
end

return M
