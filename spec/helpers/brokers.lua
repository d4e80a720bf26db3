--- Helpers for the MQTT and ZeroMQ integration tests: a mosquitto broker (password file, a TLS
-- listener) on ephemeral ports that can stop and come back on the same ports, what it logged
-- (connects, refusals, subscriptions), publishing with mosquitto_pub, and the python3-zmq DWX
-- peer (spec/integration/servers/dwx_peer.py). Built on spec.helpers.integration (processes,
-- files, deadlines).
--
--   local b = brokers.mosquitto(t, { users = { WBAPPKEY1 = "pw" }, tls = it_.make_ca(t) })
--   b:url() / b:url("ssl") ; b:subscribes("client-id") ; b:publish("t/1", "{...}", "WBAPPKEY1")
--   b:stream("t/1", { "{...}", ... }, 100)   -- paced, in the background
--   b:stop() ; b:start()       -- the same ports again
--   local p = brokers.dwx_peer(t, { "--untracked", "USDJPY" }) ; p.ports.pub ; p:events("command")
local it_ = require("spec.helpers.integration")

local M = {}
local shq = it_.shq

--- A TCP port nobody listens on now (bound and released: a caller that loses a race retries).
function M.free_port()
  local p = io.popen(it_.PYTHON .. [[ -c "import socket; s=socket.socket(); ]]
    .. [[s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"]])
  local port = tonumber(p:read("*l"))
  p:close()
  return assert(port, "no free port")
end

-- mosquitto ------------------------------------------------------------------------------------

local Broker = {}
Broker.__index = Broker

local seq = 0

--- A mosquitto broker in `dir`. opts: users = {name = password} (else anonymous), tls = {ca,
-- cert, key} (a second listener with TLS), max_queued (messages per client, 0: no limit).
function M.mosquitto(dir, opts)
  opts = opts or {}
  seq = seq + 1
  local self = setmetatable({ dir = dir, opts = opts, n = seq, starts = 0 }, Broker)
  self.users = opts.users
  if opts.users then
    self.pwfile = string.format("%s/mosquitto.%d.pw", dir, seq)
    for user, pass in pairs(opts.users) do
      local ok = os.execute("mosquitto_passwd -b " .. (it_.read(self.pwfile) == "" and "-c " or "")
        .. shq(self.pwfile) .. " " .. shq(user) .. " " .. shq(pass) .. " >/dev/null 2>&1")
      assert(ok == 0 or ok == true, "mosquitto_passwd failed")
    end
  end
  for _ = 1, 5 do   -- another process may take a released port first
    self.port, self.tls_port = M.free_port(), opts.tls and M.free_port() or nil
    if self:start() then
      return self
    end
  end
  error("mosquitto did not start:\n" .. it_.read(self.log))
end

--- Starts (again) on the same ports, with a new log. @return true, or nil when the port was taken
function Broker:start()
  self.starts = self.starts + 1
  self.log = string.format("%s/mosquitto.%d.%d.log", self.dir, self.n, self.starts)
  local conf = {
    "per_listener_settings false",
    "listener " .. self.port .. " 127.0.0.1",
    self.pwfile and "allow_anonymous false" or "allow_anonymous true",
    self.pwfile and ("password_file " .. self.pwfile) or "",
    "log_dest file " .. self.log,
    "log_type all",
    "persistence false",
    "max_queued_messages " .. tostring(self.opts.max_queued or 0),
    -- as root, mosquitto would drop to user mosquitto, who cannot write the log here
    "user root",
  }
  if self.opts.tls then
    conf[#conf + 1] = "listener " .. self.tls_port .. " 127.0.0.1"
    conf[#conf + 1] = "certfile " .. self.opts.tls.cert
    conf[#conf + 1] = "keyfile " .. self.opts.tls.key
  end
  local cfile = string.format("%s/mosquitto.%d.conf", self.dir, self.n)
  it_.write(cfile, table.concat(conf, "\n") .. "\n")
  self.proc = it_.spawn(self.dir, "mosquitto", { "mosquitto", "-c", cfile })
  local deadline = it_.now() + 10
  while it_.now() < deadline do
    local log = it_.read(self.log)
    if log:find("mosquitto version [%d.]+ running") then
      return true
    end
    if log:find("Address already in use") or not self.proc:running() then
      self.proc:stop(1)
      return nil
    end
    it_.sleep(0.02)
  end
  error("mosquitto did not say it runs:\n" .. it_.read(self.log) .. self.proc:describe())
end

function Broker:stop()
  return self.proc:stop(3)
end

--- The broker's URL: scheme "tcp" (default) or "ssl" (the TLS listener).
function Broker:url(scheme)
  if scheme == "ssl" then
    return "ssl://127.0.0.1:" .. self.tls_port
  end
  return "tcp://127.0.0.1:" .. self.port
end

--- Log lines of the current start (all starts with `all`).
function Broker:lines(all)
  local out = {}
  for i = all and 1 or self.starts, self.starts do
    for _, l in ipairs(it_.lines(string.format("%s/mosquitto.%d.%d.log", self.dir, self.n, i))) do
      out[#out + 1] = l:gsub("^%d+: ", "")
    end
  end
  return out
end

--- Sessions the broker accepted: { client, user, keepalive } in order (with `prefix`, only of
-- the clients whose id starts with it: "feedhost-" leaves mosquitto_pub's out).
function Broker:connects(all, prefix)
  local out = {}
  for _, l in ipairs(self:lines(all)) do
    local client, k, user = l:match("^New client connected from [%d.:]+ as (%S+) %(p%d, c%d, k(%d+),? ?u?'?([^')]*)")
    if client and (prefix == nil or client:sub(1, #prefix) == prefix) then
      out[#out + 1] = { client = client, keepalive = tonumber(k), user = user }
    end
  end
  return out
end

--- Connections refused as not authorised.
function Broker:refusals(all)
  local n = 0
  for _, l in ipairs(self:lines(all)) do
    if l:find("disconnected, not authorised", 1, true) then
      n = n + 1
    end
  end
  return n
end

--- SUBSCRIBE (or, with `unsub`, UNSUBSCRIBE) requests of `client` (any client when nil), each the
-- list of its topics (with their QoS for a subscribe: "t/1 (QoS 1)"), in order.
function Broker:subscribes(client, unsub, all)
  local out, cur, from = {}, nil, nil
  local word = unsub and "UNSUBSCRIBE" or "SUBSCRIBE"
  for _, l in ipairs(self:lines(all)) do
    local who = l:match("^Received " .. word .. " from (%S+)$")
    if who then
      cur, from = (client == nil or who == client) and {} or nil, who
      out[#out + 1] = cur
    elseif cur and l:sub(1, 1) == "\t" then
      cur[#cur + 1] = l:sub(2)
    elseif not from or l:sub(1, #from + 1) ~= from .. " " then   -- "client [qos ]topic" follows each topic
      cur = nil
    end
  end
  return out
end

--- Publishes `message` on `topic` as `user` (QoS 1); `message` a list: one message a line.
function Broker:publish(topic, message, user)
  local args = { "mosquitto_pub", "-h", "127.0.0.1", "-p", tostring(self.port), "-q", "1",
    "-t", topic }
  if user then
    for _, a in ipairs({ "-u", user, "-P", self.users[user] }) do
      args[#args + 1] = a
    end
  end
  local cmd = {}
  for i, a in ipairs(args) do
    cmd[i] = shq(a)
  end
  local input = ""
  if type(message) == "table" then
    local f = string.format("%s/pub.%d.txt", self.dir, self.n)
    it_.write(f, table.concat(message, "\n") .. "\n")
    input = " -l <" .. shq(f)
  else
    input = " -m " .. shq(message)
  end
  local ok = os.execute(table.concat(cmd, " ") .. input .. " >/dev/null 2>&1")
  assert(ok == 0 or ok == true, "mosquitto_pub failed on " .. topic)
end

--- Publishes `messages` (a list) on `topic` at `rate` messages a second (QoS 1, anonymous) in
-- the background: mosquitto_pub -l fed one line at a time. @return its process (ends when done)
function Broker:stream(topic, messages, rate)
  local f = string.format("%s/stream.%d.%d.txt", self.dir, self.n, #messages)
  it_.write(f, table.concat(messages, "\n") .. "\n")
  local pace = it_.PYTHON .. " -u -c " .. shq("import sys, time\nfor l in open(sys.argv[1]):\n"
    .. "    sys.stdout.write(l); sys.stdout.flush(); time.sleep(float(sys.argv[2]))") .. " "
    .. shq(f) .. " " .. tostring(1 / rate)
  local pub = table.concat({ "mosquitto_pub", "-h", "127.0.0.1", "-p", tostring(self.port), "-q",
    "1", "-t", shq(topic), "-l" }, " ")
  return it_.spawn(self.dir, "mosquitto_pub", { "sh", "-c", pace .. " | " .. pub })
end

-- the DWX peer ---------------------------------------------------------------------------------

local Peer = {}
Peer.__index = Peer

--- dwx_peer.py with extra arguments; waits for its PORTS line. `ports` (from an earlier peer)
-- binds the same ones again.
function M.dwx_peer(dir, args, ports)
  seq = seq + 1
  local log = string.format("%s/dwx.%d.log", dir, seq)
  local argv = { it_.PYTHON, "spec/integration/servers/dwx_peer.py", "--log", log }
  if ports then
    argv[#argv + 1] = "--ports"
    argv[#argv + 1] = string.format("%d,%d,%d", ports.pull, ports.push, ports.pub)
  end
  for _, a in ipairs(args or {}) do
    argv[#argv + 1] = a
  end
  local self = setmetatable({ log = log }, Peer)
  self.proc = it_.spawn(dir, "dwx_peer", argv)
  local deadline = it_.now() + 10
  while it_.now() < deadline do
    local pull, push, pub = self.proc:stdout():match("PORTS pull=(%d+) push=(%d+) pub=(%d+)")
    if pull then
      self.ports = { pull = tonumber(pull), push = tonumber(push), pub = tonumber(pub) }
      return self
    end
    if not self.proc:running() then
      break
    end
    it_.sleep(0.02)
  end
  error("the DWX peer did not start:\n" .. self.proc:describe())
end

--- Its JSON-lines log, optionally only events `ev`.
function Peer:events(ev)
  local out = {}
  for _, l in ipairs(it_.lines(self.log)) do
    local e = it_.json_decode(l)
    if e and (ev == nil or e.ev == ev) then
      out[#out + 1] = e
    end
  end
  return out
end

--- The texts of the commands it received.
function Peer:commands()
  local out = {}
  for _, e in ipairs(self:events("command")) do
    out[#out + 1] = e.text
  end
  return out
end

function Peer:stop()
  return self.proc:stop(3)
end

--- Environment of spec/integration/specs/dwx_local.lua: where this peer's sockets are (and
-- `extra` NAME = value pairs).
function Peer:env(extra)
  local e = { DWX_PUB = "tcp://127.0.0.1:" .. self.ports.pub,
    DWX_PULL = "tcp://127.0.0.1:" .. self.ports.pull, DWX_PUSH = "tcp://127.0.0.1:" .. self.ports.push }
  for k, v in pairs(extra or {}) do
    e[k] = v
  end
  return e
end

return M
