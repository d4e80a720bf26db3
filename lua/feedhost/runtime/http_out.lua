--- feedhost.runtime.http_out: the messages a connection sends over HTTP (`format = "http"`:
-- Symphony XTS subscribes by REST once its socket is up). Each request runs on the loop through
-- the C transport "http" (host/net/http.c), never blocking it, with the connection's TLS
-- options; a 2xx answer is logged at info, anything else (another status, no answer) is logged
-- with its status and a sample of the answer and retried with the connection's backoff
-- (`reconnect`), until it succeeds or the connection goes (cancel). The requests of a
-- connection go one at a time, in the order sent, a retried one before the next: an unsubscribe
-- and the subscribe after it (a reload, host:unsubscribe then host:subscribe) reach the server in
-- that order. At most M.MAX_QUEUED wait; more are dropped, counted and logged. Credentials are the
-- logger's registered secrets: they never reach a line.
local websocket = require("feedhost.transport.websocket")
local backoff = require("feedhost.runtime.connection").backoff

local M = {}

M.MAX_QUEUED = 10000   -- requests waiting behind the one under way

local SCHEMES = { http = false, https = true }

--- A message URL that starts with "/" is on the connection's own host (`base`: its URL; ws
-- and wss become http and https), so `--url` moves both.
function M.resolve(url, base)
  if url:sub(1, 1) ~= "/" or not base then
    return url
  end
  local scheme, hostport = base:match("^(%a[%w+.-]*)://([^/?#]*)")
  if not scheme then
    return url
  end
  scheme = scheme:lower()
  scheme = (scheme == "wss" or scheme == "https") and "https" or "http"
  return scheme .. "://" .. hostport .. url
end

local Out = {}
Out.__index = Out

--- The HTTP side of connection `conn` (a runtime.connection).
function M.new(conn)
  return setmetatable({ conn = conn, timers = {}, open = {}, gen = 0,
    queue = {}, busy = false, dropped = 0 }, Out)
end

--- Sends request `req` ({method, url, headers = {name = value}, body}) after those sent before;
-- `what` names it in logs ("subscribe").
function Out:send(req, what)
  if #self.queue >= M.MAX_QUEUED then
    self.dropped = self.dropped + 1
    self.conn.errors = self.conn.errors + 1
    self.conn.log:event("warning", "http:queue", string.format("%s over HTTP (%s) dropped: %d"
      .. " requests wait already (%d dropped so far)", what, req.method, #self.queue, self.dropped))
    return
  end
  self.queue[#self.queue + 1] = { req = req, what = what }
  if not self.busy then
    self:next()
  end
end

-- The next request waiting, if any.
function Out:next()
  local item = table.remove(self.queue, 1)
  self.busy = item ~= nil
  if item then
    self:request(item.req, item.what, 0)
  end
end

-- Makes request `req`; attempt: retries so far (0 first). Its success starts the next one.
function Out:request(req, what, attempt)
  local conn, def = self.conn, self.conn.def
  local url = M.resolve(req.url, conn.url)
  local label = string.format("%s over HTTP (%s %s)", what, req.method, url)
  local u, err = require("feedhost.transport").url(url, SCHEMES, "HTTP")
  if not u then
    conn.errors = conn.errors + 1
    conn.log:event("error", "http", label .. ": " .. err)
    return self:next()
  end
  local names = {}
  for k in pairs(req.headers or {}) do
    names[#names + 1] = k
  end
  table.sort(names)
  local hl = {}
  for _, k in ipairs(names) do
    hl[#hl + 1] = k .. ": " .. tostring(req.headers[k])
  end
  local gen = self.gen
  local function retry(why)
    conn.errors = conn.errors + 1
    local delay = backoff(def.reconnect, attempt, conn.rt.random)
    conn.log:event("warning", "http:" .. what, string.format("%s: %s; again in %.2fs", label, why, delay))
    local t
    t = conn.R:after(delay, function()
      self.timers[t] = nil
      if gen == self.gen then
        self:request(req, what, attempt + 1)
      end
    end)
    self.timers[t] = true
  end
  local handler = {}
  function handler.on_close(_, id, status, body)
    self.open[id] = nil
    if gen ~= self.gen then
      return
    end
    if status >= 200 and status < 300 then
      conn.log:info("%s: HTTP %d", label, status)
      self:next()
    else
      local sample = (body or ""):sub(1, 200):gsub("%s+", " ")
      retry(string.format("HTTP %d %s", status, sample))
    end
  end
  function handler.on_error(_, id, code, status, why)
    self.open[id] = nil
    if gen == self.gen then
      retry(websocket.describe_error(code, status, why))
    end
  end
  function handler.on_callback_error(_, cb, e)
    conn:on_callback_error("http " .. cb, e)
  end
  local id, oerr = conn.R:open("http", { host = u.host, port = u.port, path = u.path, tls = u.tls,
    verify = def.verify, ca_file = def.ca_file, method = req.method, headers = table.concat(hl, "\n"),
    body = req.body }, handler)
  if not id then
    return retry(oerr)
  end
  self.open[id] = true
  if conn.rt.recorder then
    conn.rt.recorder(def.name, "out", false, req.method .. " " .. url .. (req.body and (" " .. req.body) or ""))
  end
end

--- Forgets every request under way and every retry (the connection is gone; a new session
-- sends its messages again).
function Out:cancel()
  self.gen = self.gen + 1
  self.queue, self.busy = {}, false
  for t in pairs(self.timers) do
    t:cancel()
  end
  self.timers = {}
  for id in pairs(self.open) do
    self.conn.R:close(id)
  end
  self.open = {}
end

return M
