--- Helpers for the integration tests: child processes (the python WebSocket server, `feedhost
-- run`), files, deadlines. busted has no event loop, so everything polls files with a deadline.
--
--   local it = require("spec.helpers.integration")
--   local t = it.tmpdir()
--   local srv = it.server(t, { "--rate", "20" })          -- srv.port, srv.log, srv:events()
--   local fh = it.feedhost(t, "spec/integration/specs/first_message.lua",
--     { "--assets", "AAPL,MSFT", "--url", "market_data=" .. srv:url("/v2/iex") })
--   it.wait_for(function() return #fh:records() >= 3 end, 5, "3 records", fh)
--   fh:signal("TERM"); local rc = fh:wait_exit(5)
--   it.cleanup()                                           -- in after_each: kills what is left
--
-- Environment: FEEDHOST_BIN (default ./build/feedhost), FEEDHOST_LUA_DEV=1 (pass --lua-dev),
-- FEEDHOST_IT_KEEP=1 (keep the temporary directories for a look after a failure).
--
-- Every child runs under a small sh wrapper: `CMD >out 2>err & echo $! >pid; wait $!; echo $? >rc`,
-- so the child's pid is known (for signals) and its exit status lands in a file (128+N when a
-- signal N killed it).
local ffi = require("ffi")
local cjson = require("cjson.safe").new()

local M = {}

M.BIN = os.getenv("FEEDHOST_BIN") or "./build/feedhost"
M.PYTHON = "/usr/bin/python3"
M.SERVER = "spec/integration/servers/ws_server.py"

pcall(ffi.cdef, [[
  typedef struct { long tv_sec; long tv_nsec; } fh_it_timespec;
  int fh_it_clock_gettime(int clk, fh_it_timespec *tp) __asm__("clock_gettime");
  int fh_it_poll(void *fds, unsigned long n, int timeout_ms) __asm__("poll");
  int fh_it_kill(int pid, int sig) __asm__("kill");
]])
local C = ffi.C
local tspec = ffi.new("fh_it_timespec")

local SIGNALS = { HUP = 1, INT = 2, KILL = 9, TERM = 15 }

--- monotonic seconds
function M.now()
  C.fh_it_clock_gettime(1, tspec)
  return tonumber(tspec.tv_sec) + tonumber(tspec.tv_nsec) / 1e9
end

function M.sleep(seconds)
  C.fh_it_poll(nil, 0, math.floor(seconds * 1000 + 0.5))
end

local function shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.shq = shq

function M.read(path)
  local f = io.open(path, "rb")
  if not f then
    return ""
  end
  local s = f:read("*a")
  f:close()
  return s
end

function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

--- Writes like an editor that saves by renaming a new file over the old one.
function M.save(path, text)
  M.write(path .. ".tmp", text)
  assert(os.rename(path .. ".tmp", path))
  return path
end

--- complete lines of a file (a last line without its newline is still being written: left out)
function M.lines(path)
  local out = {}
  for line in M.read(path):gmatch("([^\n]*)\n") do
    out[#out + 1] = line
  end
  return out
end

M.json_decode = cjson.decode
M.json_encode = cjson.encode

local tmpdirs = {}
local procs = {}

function M.tmpdir()
  local p = io.popen("mktemp -d /tmp/feedhost-it.XXXXXX")
  local dir = p:read("*l")
  p:close()
  assert(dir and dir ~= "", "mktemp failed")
  tmpdirs[#tmpdirs + 1] = dir
  return dir
end

local Proc = {}
Proc.__index = Proc

local seq = 0
--- start argv (a list) in the background; stdout/stderr go to files in dir
function M.spawn(dir, name, argv)
  seq = seq + 1
  local base = string.format("%s/%s.%d", dir, name, seq)
  local self = setmetatable({ name = name, out = base .. ".out", err = base .. ".err",
    pidfile = base .. ".pid", rcfile = base .. ".rc", argv = argv }, Proc)
  local cmd = {}
  for i, a in ipairs(argv) do
    cmd[i] = shq(a)
  end
  local inner = table.concat(cmd, " ") .. " >" .. shq(self.out) .. " 2>" .. shq(self.err)
    .. " </dev/null & echo $! >" .. shq(self.pidfile) .. ".tmp; mv " .. shq(self.pidfile) .. ".tmp "
    .. shq(self.pidfile) .. "; wait $!; echo $? >" .. shq(self.rcfile)
  local ok = os.execute("sh -c " .. shq(inner) .. " >/dev/null 2>&1 </dev/null &")
  assert(ok == 0 or ok == true, "cannot start " .. name)
  procs[#procs + 1] = self
  local deadline = M.now() + 5
  while M.now() < deadline do
    local pid = tonumber(M.read(self.pidfile):match("%d+"))
    if pid then
      self.pid = pid
      return self
    end
    M.sleep(0.01)
  end
  error("no pid for " .. name)
end

--- exit status, or nil while running
function Proc:rc()
  if self.exit_code == nil then
    self.exit_code = tonumber(M.read(self.rcfile):match("%d+"))
  end
  return self.exit_code
end

function Proc:running()
  return self:rc() == nil
end

function Proc:signal(name)
  if self:running() then
    C.fh_it_kill(self.pid, SIGNALS[name] or name)
  end
end

--- wait for the exit; returns the exit status or nil on timeout
function Proc:wait_exit(timeout)
  local deadline = M.now() + (timeout or 5)
  while M.now() < deadline do
    local rc = self:rc()
    if rc then
      return rc
    end
    M.sleep(0.05)
  end
  return nil
end

--- TERM, then KILL after grace seconds
function Proc:stop(grace)
  if not self:running() then
    return self:rc()
  end
  self:signal("TERM")
  local rc = self:wait_exit(grace or 3)
  if rc == nil then
    self:signal("KILL")
    rc = self:wait_exit(3)
  end
  return rc
end

function Proc:stdout()
  return M.read(self.out)
end

function Proc:stderr()
  return M.read(self.err)
end

function Proc:stderr_lines()
  return M.lines(self.err)
end

--- decoded NDJSON records of stdout (complete lines only); errors on a line that is not JSON
function Proc:records()
  local out = {}
  for _, line in ipairs(M.lines(self.out)) do
    if line ~= "" then
      local v, err = cjson.decode(line)
      if v == nil then
        error("stdout line is not JSON (" .. tostring(err) .. "): " .. line)
      end
      out[#out + 1] = v
    end
  end
  return out
end

--- The numbers of connection `name`'s last stats line ({frames =, records =, errors =,
--- reconnects =, ..., line = the line}), or nil before the first one.
function Proc:last_stats(name)
  local out
  for _, l in ipairs(self:stderr_lines()) do
    local body = l:match("stats " .. name:gsub("%p", "%%%0") .. ": (.*)$")
    if body then
      out = { line = l }
      for k, v in body:gmatch("([%a_/]+) ([%d%.]+)") do
        out[k] = tonumber(v)
      end
    end
  end
  return out
end

--- The `reload (...)` lines of stderr (done and failed).
function Proc:reload_lines()
  return self:grep("reload %(")
end

--- A memory figure of the live program from /proc/<pid>/status, in KiB: `field` "VmRSS" (resident
--- now) or "VmHWM" (its peak); nil when it is gone. Under `timeout` (M.feedhost), its child's.
function Proc:memory_kib(field)
  local pid = self.pid
  while pid and M.read("/proc/" .. pid .. "/comm"):match("^timeout") do
    pid = tonumber(M.read("/proc/" .. pid .. "/task/" .. pid .. "/children"):match("%d+"))
  end
  return pid and tonumber(M.read("/proc/" .. pid .. "/status"):match(field .. ":%s*(%d+)") or "")
end

--- stderr lines matching a Lua pattern
function Proc:grep(pattern)
  local out = {}
  for _, l in ipairs(self:stderr_lines()) do
    if l:find(pattern) then
      out[#out + 1] = l
    end
  end
  return out
end

-- What a live process is doing, for a test that waited for it in vain: its state, where it
-- sleeps, the CPU time it used; then its children's (feedhost runs under `timeout`).
local function proc_state(pid, depth)
  local status = M.read("/proc/" .. pid .. "/status")
  local state = status:match("State:%s*([^\n]*)")
  if not state then
    return ""
  end
  local stat = M.read("/proc/" .. pid .. "/stat"):match("%) (.*)") or ""
  local fields = {}
  for f in stat:gmatch("%S+") do
    fields[#fields + 1] = f
  end
  local ticks = (tonumber(fields[12]) or 0) + (tonumber(fields[13]) or 0)   -- utime + stime
  local wchan = M.read("/proc/" .. pid .. "/wchan")
  local out = string.format("  %spid %d %s: %s, cpu %.2fs%s\n", string.rep("  ", depth), pid,
    (M.read("/proc/" .. pid .. "/comm"):gsub("%s+$", "")), state, ticks / 100,
    wchan ~= "" and wchan ~= "0" and (", waiting in " .. wchan) or "")
  for child in M.read("/proc/" .. pid .. "/task/" .. pid .. "/children"):gmatch("%d+") do
    if depth < 3 then
      out = out .. proc_state(tonumber(child), depth + 1)
    end
  end
  return out
end

function Proc:describe()
  local err = self:stderr()
  if #err > 4000 then
    err = "...\n" .. err:sub(-4000)
  end
  local out = self:stdout()
  if #out > 1500 then
    out = "...\n" .. out:sub(-1500)
  end
  local state = self.pid and self:running() and proc_state(self.pid, 0) or ""
  return string.format("[%s pid %s rc %s]\n%s  argv: %s\n  stderr:\n%s\n  stdout (tail):\n%s",
    self.name, tostring(self.pid), tostring(self:rc()), state, table.concat(self.argv, " "), err,
    out)
end

-- WebSocket test server ---------------------------------------------------------------------

local Server = setmetatable({}, { __index = Proc })
Server.__index = Server

--- start ws_server.py (or opts.script) with extra arguments; waits for its PORT line
function M.server(dir, args, opts)
  opts = opts or {}
  return M.peer(dir, "ws_server", { M.PYTHON, opts.script or M.SERVER }, args, opts)
end

--- start a test server (argv, then `--log LOG`, then args) that prints "PORT n" when it listens;
--- waits for that line. opts: log (the event log's path; false: a peer without one, no --log),
--- tls (its URLs are wss://)
function M.peer(dir, name, argv, args, opts)
  opts = opts or {}
  seq = seq + 1
  local log = opts.log ~= false and (opts.log or string.format("%s/server.%d.log", dir, seq)) or nil
  argv = { unpack(argv) }
  if log then
    argv[#argv + 1] = "--log"
    argv[#argv + 1] = log
  end
  for _, a in ipairs(args or {}) do
    argv[#argv + 1] = a
  end
  local p = M.spawn(dir, name, argv)
  setmetatable(p, Server)
  p.log = log
  p.tls = opts.tls
  local deadline = M.now() + 10
  while M.now() < deadline do
    local port = tonumber(p:stdout():match("PORT (%d+)"))
    if port then
      p.port = port
      return p
    end
    if not p:running() then
      break
    end
    M.sleep(0.02)
  end
  error("test server did not start:\n" .. p:describe())
end

function Server:url(path)
  return string.format("%s://127.0.0.1:%d%s", self.tls and "wss" or "ws", self.port, path or "/")
end

--- decoded events of the server log, optionally only those with ev == kind (or kind(e) true)
function Server:events(kind)
  local out = {}
  for _, line in ipairs(M.lines(self.log)) do
    local e = cjson.decode(line)
    if e and (kind == nil or e.ev == kind or (type(kind) == "function" and kind(e))) then
      out[#out + 1] = e
    end
  end
  return out
end

--- texts the client sent on connection `conn` (all connections when nil)
function Server:received(conn)
  local out = {}
  for _, e in ipairs(self:events("recv")) do
    if (conn == nil or e.conn == conn) and e.text then
      out[#out + 1] = e.text
    end
  end
  return out
end

-- feedhost ----------------------------------------------------------------------------------

--- start `feedhost run SPEC ARGS...` (with `env`, a table of NAME = value, in its environment)
function M.feedhost(dir, spec, args, env)
  -- a watchdog: GNU timeout forwards TERM/INT to feedhost and returns its exit status; it only
  -- acts itself (KILL after 300 s) when a crashed test run left the child behind. --foreground:
  -- a signal goes to feedhost once (without it timeout also signals its process group, and a
  -- second TERM that lands after feedhost's clean shutdown restored the default action kills it)
  local argv = { "timeout", "--foreground", "-s", "KILL", "300", M.BIN }
  if env then
    local names = {}
    for k in pairs(env) do
      names[#names + 1] = k
    end
    table.sort(names)
    for i = #names, 1, -1 do
      table.insert(argv, 1, names[i] .. "=" .. tostring(env[names[i]]))
    end
    table.insert(argv, 1, "env")
  end
  -- FEEDHOST_LUA_DEV=1: the binary runs the Lua source tree (lua/) instead of its embedded copy
  if os.getenv("FEEDHOST_LUA_DEV") == "1" then
    argv[#argv + 1] = "--lua-dev"
  end
  argv[#argv + 1] = "run"
  argv[#argv + 1] = spec
  for _, a in ipairs(args or {}) do
    argv[#argv + 1] = a
  end
  return M.spawn(dir, "feedhost", argv)
end

--- wait until fn() returns a truthy value (polled every 50 ms); returns that value, or fails the
--- test after timeout seconds with `what` and the description of the given processes
function M.wait_for(fn, timeout, what, ...)
  local deadline = M.now() + (timeout or 5)
  while true do
    local v = fn()
    if v then
      return v
    end
    if M.now() >= deadline then
      local parts = { string.format("timed out after %.1fs waiting for %s", timeout or 5, what or "a condition") }
      for i = 1, select("#", ...) do
        local p = select(i, ...)
        if p and p.describe then
          parts[#parts + 1] = p:describe()
          if p.log then
            local ev = M.read(p.log)
            if #ev > 3000 then
              ev = "...\n" .. ev:sub(-3000)
            end
            parts[#parts + 1] = "  server log (tail):\n" .. ev
          end
        end
      end
      error(table.concat(parts, "\n"), 2)
    end
    M.sleep(0.05)
  end
end

--- wait until feedhost `fh` logged `n` reload lines (done or failed); returns them
function M.wait_reloads(fh, n, what, ...)
  return M.wait_for(function() return #fh:reload_lines() >= n and fh:reload_lines() end, 10,
    what or (n .. " reload line(s)"), fh, ...)
end

--- kill every child still running, remove the temporary directories (FEEDHOST_IT_KEEP=1 keeps them)
function M.cleanup()
  for i = #procs, 1, -1 do
    local p = procs[i]
    pcall(Proc.stop, p, 2)
    procs[i] = nil
  end
  if os.getenv("FEEDHOST_IT_KEEP") ~= "1" then
    for i = #tmpdirs, 1, -1 do
      os.execute("rm -rf " .. shq(tmpdirs[i]))
      tmpdirs[i] = nil
    end
  else
    for i = #tmpdirs, 1, -1 do
      io.stderr:write("kept ", tmpdirs[i], "\n")
      tmpdirs[i] = nil
    end
  end
end

-- TLS ---------------------------------------------------------------------------------------

--- a CA and a server certificate for 127.0.0.1 (and localhost) signed by it, made with the
--- openssl CLI in dir; `san` replaces the certificate's subjectAltName (e.g. "DNS:other.example");
--- returns { ca = pem, cert = pem, key = pem }
function M.make_ca(dir, name, san)
  name = name or "ca"
  san = san or "IP:127.0.0.1,DNS:localhost"
  local d = dir .. "/" .. name
  local script = table.concat({
    "set -e",
    "mkdir -p " .. shq(d),
    "cd " .. shq(d),
    "printf 'basicConstraints=CA:FALSE\\nsubjectAltName=" .. san .. "\\n"
      .. "keyUsage=digitalSignature,keyEncipherment\\nextendedKeyUsage=serverAuth\\n' > ext.cnf",
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2"
      .. " -subj '/CN=feedhost test " .. name .. "'",
    "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1'",
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem"
      .. " -days 2 -extfile ext.cnf",
  }, "\n")
  local ok = os.execute("sh -c " .. shq(script) .. " >" .. shq(dir .. "/openssl-" .. name .. ".log") .. " 2>&1")
  assert(ok == 0 or ok == true, "openssl failed: " .. M.read(dir .. "/openssl-" .. name .. ".log"))
  return { ca = d .. "/ca.pem", cert = d .. "/server.pem", key = d .. "/server.key" }
end

return M
