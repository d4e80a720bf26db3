--- feedhost: the public API, for the CLI and for LuaJIT applications that embed the host.
--
--   local feedhost = require "feedhost"
--   local host = assert(feedhost.new{ spec = "specs/alpaca.lua", credentials = creds,
--                                     on_record = function(rec) ... end })
--   host:subscribe{ "AAPL", "MSFT" }
--   host:run()                 -- or host:step(timeout_ms) inside the application's own loop
--   print(host.store:quote("AAPL").bid, host:stats().market_data.frames)
--   host:close()
--
-- All state hangs off the host object: several hosts may live in one process.
local specmod = require("feedhost.spec")
local runtime = require("feedhost.runtime")
local reactor = require("feedhost.runtime.reactor")
local storemod = require("feedhost.data.store")
local logmod = require("feedhost.util.log")

local M = {}

local Host = {}
Host.__index = Host

-- nil, message, exit code (2: spec or usage, 1: runtime)
local function fail(msg, code)
  return nil, msg, code or 2
end

--- Builds a host. opts:
--   spec         path of a spec file (or an embedded one, e.g. "specs/alpaca.lua")
--   credentials  table, or path of a Lua/JSON file; the environment fills what is missing
--   assets       list of symbols to subscribe from the start (host:subscribe adds more)
--   on_record    function(rec) for every record (after the store has it)
--   urls         {connection = url} overriding the spec's URLs
--   connections  list of connection names to run (default: all)
--   log          a feedhost.util.log logger, or log_level ("info")
--   once         no reconnects; host:run() returns when every connection has closed
--   record       path of a capture file to write (every frame in and out)
--   tls          {ca_file = path, insecure = bool}
--   reactor      share an existing feedhost.runtime.reactor (default: a new one)
--   lenient_credentials  missing credentials are not an error
--   adjust       function(spec_table) called after loading, before compiling (tools, tests)
-- @return host, or nil, message, exit code
function M.new(opts)
  local log = opts.log or logmod.new({ level = opts.log_level or "info" })
  local loaded, errs, file = specmod.load(opts.spec)
  if not loaded then
    return fail(specmod.format_errors(errs, file) .. "\n" .. string.format("feedhost: %s: %d error%s",
      file, #errs, #errs == 1 and "" or "s"))
  end
  if opts.adjust then
    opts.adjust(loaded.spec)
  end
  local given = opts.credentials
  if type(given) == "string" then
    local cerr
    given, cerr = specmod.read_credentials(given)
    if not given then
      return fail(cerr)
    end
  end
  local creds, cerr = specmod.credentials(loaded.spec, given)
  if not creds then
    if not opts.lenient_credentials then
      return fail(loaded.file .. ": " .. cerr .. " (give --credentials FILE or set the environment variable)")
    end
    creds = given or {}
  end
  for _, v in pairs(creds) do
    if type(v) == "string" and #v > 0 then
      log:add_secret(v)
    end
  end
  local host = setmetatable({ log = log, store = storemod.new(), on_record = opts.on_record,
    file = loaded.file }, Host)
  local store, user = host.store, opts.on_record
  local emit = opts.emit or function(r)
    store:put(r)
    if user then
      user(r)
    end
  end
  local compiled, cerrs = specmod.compile(loaded, { credentials = creds, emit = emit, log = log,
    open_assets = opts.assets, auth = runtime.auth_hooks(function() return host.rt end) })
  if not compiled then
    return fail(specmod.format_errors(cerrs, loaded.file) .. "\n" .. string.format(
      "feedhost: %s: %d error%s", loaded.file, #cerrs, #cerrs == 1 and "" or "s"))
  end
  host.compiled = compiled
  for name in pairs(opts.urls or {}) do
    if not compiled.connections[name] then
      return fail(string.format("--url %s: the spec has %s", name, table.concat(compiled.order, ", ")))
    end
  end
  for _, name in ipairs(opts.connections or {}) do
    if not compiled.connections[name] then
      return fail(string.format("--connection %s: the spec has %s", name, table.concat(compiled.order, ", ")))
    end
  end
  local R = opts.reactor
  if not R then
    local rerr
    R, rerr = reactor.new()
    if not R then
      return fail(tostring(rerr), 1)
    end
    host.own_reactor = true
  end
  host.R = R
  local recorder
  if opts.record then
    local f, ferr = io.open(opts.record, "w")
    if not f then
      return fail("--record: " .. tostring(ferr))
    end
    f:setvbuf("line")
    host.record_file = f
    recorder = runtime.recorder(f)
  end
  local ok, rt = pcall(runtime.new, { compiled = compiled, reactor = R, log = log, urls = opts.urls,
    once = opts.once, recorder = recorder, connections = opts.connections, tls = opts.tls })
  if not ok then
    return fail(loaded.file .. ": " .. tostring(rt))
  end
  host.rt = rt
  host.symbols = {}
  if opts.assets and #opts.assets > 0 then
    local sok, serr = host:subscribe(opts.assets)
    if not sok then
      return fail("--assets: " .. tostring(serr))
    end
  end
  return host
end

local function symbol_of(a)
  return type(a) == "table" and a.symbol or a
end

--- Adds assets (symbols or Asset tables) to every connection; live connections subscribe now.
-- @return true, or nil, error (an unknown symbol with closed master data)
function Host:subscribe(list)
  local ok, resolved = pcall(function() return self.compiled.universe:resolve(list) end)
  if not ok then
    return nil, type(resolved) == "table" and resolved.msg or tostring(resolved)
  end
  local all, seen = {}, {}
  for _, a in ipairs(self.symbols) do
    all[#all + 1] = a
    seen[symbol_of(a)] = true
  end
  for _, a in ipairs(resolved) do
    if not seen[symbol_of(a)] then
      all[#all + 1] = a
      seen[symbol_of(a)] = true
    end
  end
  self.symbols = all
  self.rt:set_assets(all)
  return true
end

--- Removes assets; live connections send the spec's unsubscribe messages.
function Host:unsubscribe(list)
  local drop = {}
  for _, a in ipairs(list) do
    drop[symbol_of(a)] = true
  end
  local keep = {}
  for _, a in ipairs(self.symbols) do
    if not drop[symbol_of(a)] then
      keep[#keep + 1] = a
    end
  end
  self.symbols = keep
  self.rt:set_assets(keep)
  return true
end

--- Starts the connections (once; step and run call it).
function Host:start()
  if not self.started then
    self.started = true
    self.rt:start()
  end
end

--- One turn of the loop: waits at most timeout_ms for frames, timers or signals.
function Host:step(timeout_ms)
  self:start()
  return self.R:step(timeout_ms or 0)
end

--- Runs until host:stop() (or, with `once`, until every connection has closed).
function Host:run()
  self:start()
  while not ((self.rt.stopping or self.rt.once) and self.rt:done()) do
    self.R:step(250)
  end
end

--- Closes every connection; run() returns once they are closed.
function Host:stop()
  self.rt:stop()
end

function Host:stats()
  return self.rt:stats()
end

function Host:stats_lines()
  return self.rt:stats_lines()
end

--- Stops and frees everything (the reactor too, unless it was given).
function Host:close()
  if self.closed then
    return
  end
  self.closed = true
  if self.started then
    self.rt:stop()
    local deadline = reactor.now() + 2
    while not self.rt:done() and reactor.now() < deadline do
      self.R:step(50)
    end
  end
  if self.record_file then
    self.record_file:close()
  end
  if self.own_reactor then
    self.R:free()
  end
end

M.version = require("feedhost.core").version
return M
