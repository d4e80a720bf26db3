--- feedhost: the public API, for the CLI and for LuaJIT applications that embed the host.
--
--   local feedhost = require "feedhost"
--   local host = assert(feedhost.new{ spec = "specs/alpaca.lua", credentials = creds,
--                                     on_record = function(rec) ... end })
--   host:subscribe{ "AAPL", "MSFT" }
--   host:run()                 -- or host:step(timeout_ms) inside the application's own loop,
--                              -- host:fd() readable when a host:step(0) has work
--   host:reload()              -- compile the spec anew beside the running one, then swap
--   print(host.store:quote("AAPL").bid, host:stats().market_data.frames)
--   host:close()
--
--   local spec = assert(feedhost.load{ spec = "specs/alpaca.lua" })   -- no connection
--   spec:outbound("market_data", assets)   -- url, headers and the frames it would send
--   spec:replay(capture_text, { on_record = fn })
--
-- All state hangs off the host object: several hosts may live in one process.
-- Errors: misuse raises; a failure of the world (a missing file, a bad spec, no network) returns
-- nil, message, exit code (2: spec or usage, 1: runtime).
local specmod = require("feedhost.spec")
local credmod = require("feedhost.spec.credentials")
local runtime = require("feedhost.runtime")
local reactor = require("feedhost.runtime.reactor")
local recorder = require("feedhost.runtime.recorder")
local storemod = require("feedhost.data.store")
local logmod = require("feedhost.util.log")
local reload = require("feedhost.runtime.reload")
local clock = require("feedhost.sys.clock")
local symbol_of = require("feedhost.data.asset").symbol_of

local M = {}

local function fail(msg, code)
  return nil, msg, code or 2
end

local function spec_errors(errs, file)
  return specmod.format_errors(errs, file) .. "\n" .. string.format("feedhost: %s: %d error%s",
    file, #errs, #errs == 1 and "" or "s")
end

-- Loads, validates and compiles a spec with its credentials (see M.load for opts). `files` (a
-- list, may be nil) gets the files read: the spec, its registry modules, the credentials file.
-- @return loaded, compiled; or nil, message, code
local function prepare(opts, log, emit, out, files)
  local loaded, errs, file = specmod.load(opts.spec, { trusted = opts.trusted, files = files })
  if not loaded then
    return fail(spec_errors(errs, file))
  end
  if opts.trusted then
    log:warning("%s: spec code runs unconfined (trusted): it can reach files, processes and"
      .. " the host's own state", loaded.file)
  end
  if opts.adjust then
    opts.adjust(loaded.spec)
  end
  local given = opts.credentials
  if type(given) == "string" then
    if files then
      files[#files + 1] = given
    end
    local cerr
    given, cerr = credmod.read(given)
    if not given then
      return fail(cerr)
    end
  end
  local creds, cerr = credmod.resolve(loaded.spec, given)
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
  local compiled, cerrs = specmod.compile(loaded, { credentials = creds, emit = emit, log = log,
    open_assets = opts.assets, out = out })
  if not compiled then
    return fail(spec_errors(cerrs, loaded.file))
  end
  return loaded, compiled
end

-- ---- a spec, compiled, without connections ---------------------------------------------------
local Spec = {}
Spec.__index = Spec

--- Loads, validates and compiles a spec. opts:
--   spec         path of a spec file (or an embedded one, e.g. "specs/alpaca.lua")
--   credentials  table, or path of a Lua/JSON file; the environment fills what is missing
--   lenient_credentials  missing credentials are not an error
--   assets       symbols for an open universe (no master data)
--   on_record    function(rec) for replayed records
--   out          an fh_out * (feedhost.runtime.output's `out`): the pipelines write replayed
--                records there as NDJSON lines themselves, instead of calling on_record
--   log          a feedhost.util.log logger, or log_level
--   adjust       function(spec_table) called after loading, before compiling (tools, tests)
--   trusted      true: the spec's code runs with the full global environment (logged), not
--                confined (feedhost.spec.sandbox)
-- @return spec, or nil, message, exit code
function M.load(opts)
  local log = opts.log or logmod.new({ level = opts.log_level or "warning" })
  local self = setmetatable({ log = log }, Spec)
  local loaded, compiled, code = prepare(opts, log, opts.on_record, opts.out)
  if not loaded then
    return nil, compiled, code
  end
  self.loaded, self.compiled = loaded, compiled
  self.file, self.name, self.order = loaded.file, compiled.name, compiled.order
  return self
end

--- The Assets of a list of symbols (closed master data: unknown ones fail).
-- @return list, or nil, message
function Spec:resolve(symbols)
  local ok, list = pcall(self.compiled.resolve, symbols)
  if not ok then
    return nil, tostring(type(list) == "table" and list.msg or list)
  end
  return list
end

--- What connection `name` would do: { backend, auth_mode, url, streams, headers = {{k, v}},
-- auth = frames, setup = frames, subscribe = frames (for those of `assets` its universe knows),
-- universe = its universe (nil: none) }. @return table, or nil, message
function Spec:outbound(name, assets)
  local c = self.compiled.connections[name]
  if not c then
    return nil, "no connection " .. tostring(name)
  end
  local ok, out = pcall(function()
    return { backend = c.backend, auth_mode = c.auth_mode or "none", url = c.url(),
      streams = c.spec.streams or {}, headers = c.headers(), auth = c.auth_frames(),
      setup = c.setup_frames(), subscribe = c.subscribe(c.assets_of(assets or {})),
      has_subscribe = c.spec.subscribe ~= nil, universe = c.universe,
      connect = c.connect_payload(), options = (c.spec.backend or {}).options or {},
      login = c.login and c.login() }
  end)
  if not ok then
    return nil, tostring(out)
  end
  return out
end

--- The compiled pipeline of connection `name` (run(batch), stats), for benchmarks and tools.
function Spec:pipeline(name)
  local c = self.compiled.connections[name]
  return c and c.pipeline
end

--- Runs the "in" frames of a capture (its text, or a file to read it from, in bounded memory)
-- through the pipelines; records go to the on_record given to load. opts: { connection = name,
-- stop = function() -> true to end early }
-- @return summary { frames, unknown_connections, bad_lines, bad_samples, ..., stats = {name =
--         pipeline stats} }
function Spec:replay(capture, opts)
  local summary = require("feedhost.runtime.replay").run(self.compiled, capture, opts or {})
  summary.stats = {}
  for _, name in ipairs(self.order) do
    summary.stats[name] = self.compiled.connections[name].pipeline.stats
  end
  return summary
end

-- ---- a live host ------------------------------------------------------------------------------
local Host = {}
Host.__index = Host

--- Builds a host. opts (besides those of M.load):
--   on_record    function(rec) for every record (after the store has it); one that raises is
--                counted as an application error (stats app_errors) and the records go on
--   on           { <channel> = function(rec) }: per channel, after on_record; the same rule
--   output       an output for every record (feedhost.runtime.output.ndjson: the CLI's NDJSON),
--                flushed after every step; with no store, no on_record and no `on`, the
--                pipelines write its lines themselves (no record table is built)
--   store        false: no store; a table: the store's options (feedhost.data.store: intervals,
--                lateness (default here 1 s), on_bar, max_*); default: host.store keeps what the
--                records say, 1-minute bars closed by a timer of the host, once a second
--   urls         {connection = url} overriding the spec's URLs
--   connections  list of connection names to run (default: all)
--   once         no reconnects; host:run() returns when every connection has closed
--   record       path of a capture file to write (every frame in and out), created readable by
--                its owner only; credentials in the frames are written as *** unless
--   record_secrets  is true
--   tls          {ca_file = path, insecure = bool}
--   reactor      share an existing feedhost.runtime.reactor (default: a new one)
--   signals      true: SIGINT and SIGTERM stop the host, SIGHUP reloads the spec
--   watch        true: the files the spec loaded (the spec, its registry modules, master data,
--                the credentials file) are watched; a change reloads the spec
-- @return host, or nil, message, exit code
function M.new(opts)
  local log = opts.log or logmod.new({ level = opts.log_level or "info" })
  local host = setmetatable({ log = log, on_record = opts.on_record, output = opts.output,
    watch = opts.watch, connections = opts.connections,
    reload_stats = { ok = 0, failed = 0 } }, Host)
  if opts.store ~= false then
    local so = {}
    for k, v in pairs(type(opts.store) == "table" and opts.store or {}) do
      so[k] = v
    end
    so.lateness, so.log = so.lateness or 1, so.log or log
    local ok, st = pcall(storemod.new, so)
    if not ok then
      return fail(tostring(st))
    end
    host.store = st
  end
  for ch, f in pairs(opts.on or {}) do
    if type(f) ~= "function" then
      return fail(string.format("on.%s: expected a function, got %s", tostring(ch), type(f)))
    end
  end
  local output = opts.output
  local emit = M.deliver(host.store, output and output.write, opts.on_record, opts.on)
  -- records only to the NDJSON output: the pipelines write its lines themselves
  local direct = output and output.out and not host.store and not opts.on_record
    and not (opts.on and next(opts.on)) and output.out or nil
  local files = {}
  local loaded, compiled, code = prepare(opts, log, emit, direct, files)
  if not loaded then
    return fail(compiled, code)
  end
  host.file, host.compiled, host.loaded, host.files = loaded.file, compiled, loaded, files
  -- the same preparation again, for a reload: the current assets, the files read that time
  function host.recompile(list)
    local symbols = {}
    for i, a in ipairs(host.symbols) do
      symbols[i] = symbol_of(a)
    end
    return prepare(setmetatable({ assets = symbols }, { __index = opts }), log, emit, direct, list)
  end
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
    R, rerr = reactor.new({ log = log })
    if not R then
      return fail(tostring(rerr), 1)
    end
    host.own_reactor = true
  end
  host.R = R
  local rec
  if opts.record then
    local f, ferr = recorder.open(opts.record)
    if not f then
      return fail("--record: " .. ferr)
    end
    host.record_file = f
    -- credentials in captured frames are masked unless the caller asks for them in clear
    rec = recorder.new(f, { redact = not opts.record_secrets and function(text) return log:redact(text) end,
      on_error = function(err) host:fail("--record: " .. err) end })
  end
  local ok, rt = pcall(runtime.new, { compiled = compiled, reactor = R, log = log, urls = opts.urls,
    once = opts.once, recorder = rec, connections = opts.connections, tls = opts.tls })
  if not ok then
    return fail(loaded.file .. ": " .. tostring(rt))
  end
  host.rt = rt
  host.symbols = {}
  if opts.signals then
    local sok, serr = R:catch_signals(function(sig) host:on_signal(sig) end)
    if not sok then
      return fail(serr, 1)
    end
  end
  if opts.assets and #opts.assets > 0 then
    local sok, serr = host:subscribe(opts.assets)
    if not sok then
      return fail("--assets: " .. tostring(serr))
    end
  end
  return host
end

--- The function every record goes to: the store, the output, then the application's on_record
-- and on[channel]; one of those two that raises does not keep the other from the record, and the
-- error goes on to the pipeline (counted as app_errors).
function M.deliver(store, write, user, on)
  local by_channel = on and next(on) and on
  return function(r)
    if store then
      store:put(r)
    end
    if write then
      write(r)
    end
    local f = by_channel and by_channel[r.channel]
    if user and f then
      local ok, err = pcall(user, r)
      f(r)
      if not ok then
        error(err, 0)
      end
    elseif user then
      user(r)
    elseif f then
      f(r)
    end
  end
end

--- Adds assets (symbols or Asset tables) to every connection; live connections subscribe now.
-- @return true, or nil, error (an unknown symbol with closed master data)
function Host:subscribe(list)
  local ok, resolved = pcall(self.compiled.resolve, list)
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
    local store = self.store
    if store then   -- bars close on the wall clock too, when no tick comes
      self.roll_timer = self.R:every(1, function() store:roll(clock.now_ns()) end)
    end
    reload.watch(self)
  end
end

--- One turn of the loop: waits at most timeout_ms for frames, timers or signals; the output is
-- flushed after it. A reload asked for during the turn (a file changed, SIGHUP, host:reload()
-- from a callback) happens at its end, between two batches.
function Host:step(timeout_ms)
  self:start()
  self.stepping = true
  local n = self.R:step(timeout_ms or 0)
  self.stepping = false
  local why = self.reload_pending
  if why and not self.closed then
    self.reload_pending = nil
    reload.run(self, why)
  end
  self:flush()
  return n
end

--- A file descriptor for the application's own event loop (luv, cqueues, copas, epoll): it
-- becomes readable when host:step(0) has work (frames, timers, signals, messages of other
-- threads); call host:step(0) then. Starts the host. @return fd, or nil, message
function Host:fd()
  self:start()
  return self.R:fd()
end

--- Loads, validates and compiles the spec again beside the running one and swaps it in
-- (feedhost.runtime.reload: per connection, pipeline swapped, resubscribed, reconnected, opened
-- or closed). Called during a step (from a callback), it happens at the step's end. Counted in
-- host.reload_stats = { ok, failed, last_ms, last_swap_ms }.
-- @return true, summary { ms, swap_ms, connections = {"name: what changed, what is done"} };
--         or nil, message (the running spec stays)
function Host:reload(why)
  if self.stepping then
    self.reload_pending = why or "host:reload()"
    return true, "at the end of this step"
  end
  return reload.run(self, why or "host:reload()")
end

-- The output's pending records out (waiting, as its policy says, for a slow reader, but not
-- past a signal); a write that fails stops the host (run returns the error).
function Host:flush()
  local output = self.output
  if output and output.flush and not self.failed then
    local R = self.R
    -- stopping, or a signal to take: no waiting for the reader (made once, not every step)
    local interrupted = self.flush_interrupted
    if not interrupted then
      local rt = self.rt
      interrupted = function() return rt.stopping or R:signal_waiting() end
      self.flush_interrupted = interrupted
    end
    local ok, err = output.flush(interrupted)
    if not ok then
      self:fail(err)
    elseif output.waiting and output.waiting() then
      R:wait_writable(output.fd)   -- the rest goes when the reader has room, not at the next frame
    end
  end
end

--- Stops the host because of a failure that ends the run (an output that cannot be written):
-- run() then returns nil and `err`.
function Host:fail(err)
  if not self.failed then
    self.failed = tostring(err)
    self.log:error("%s: stopping", self.failed)
    self:stop()
  end
end

-- SIGINT / SIGTERM: close the connections (run returns when they are closed, or after 3 s).
function Host:on_signal(sig)
  if sig == 1 then   -- SIGHUP: at the end of this step
    self.reload_pending = "SIGHUP"
    return
  end
  if not self.rt.stopping then
    self.log:info("signal %d: closing", sig)
    self:stop()
  end
end

--- Whether run() would return now: stopped (or `once`) and every connection closed.
function Host:finished()
  return (self.rt.stopping or self.rt.once) and self.rt:done()
end

--- Runs until host:stop() (or, with `once`, until every connection has closed). opts:
--   stats_interval  seconds between calls of on_stats(lines) (one line per connection)
--   on_stats        function(lines)
--   duration        stop after this many seconds
-- @return true, or nil and why the host failed (an output that could not be written)
function Host:run(opts)
  opts = opts or {}
  self:start()
  local timers = {}
  if opts.stats_interval and opts.stats_interval > 0 and opts.on_stats then
    timers[#timers + 1] = self.R:every(opts.stats_interval, function()
      opts.on_stats(self:stats_lines())
    end)
  end
  if opts.duration then
    timers[#timers + 1] = self.R:after(opts.duration, function() self:stop() end)
  end
  while not self:finished() do
    self:step(250)
    if self.stop_deadline and reactor.now() > self.stop_deadline then
      self.log:warning("connections did not close in time; exiting")
      break
    end
  end
  for _, t in ipairs(timers) do
    t:cancel()
  end
  if self.failed then
    return nil, self.failed
  end
  return true
end

--- Closes every connection; run() returns once they are closed (or 3 s later).
function Host:stop()
  if not self.stop_deadline then
    self.stop_deadline = reactor.now() + 3
  end
  self.rt:stop()
end

--- Per connection: state, frames, records, errors, app_errors, reconnects, assets, bytes,
-- first_frame_at and last_frame_at (monotonic seconds), pipeline stats.
function Host:stats()
  return self.rt:stats()
end

function Host:stats_lines()
  local lines = self.rt:stats_lines()
  local o = self.output and self.output.stats and self.output.stats()
  if o and (o.dropped > 0 or o.unwritable > 0 or o.waiting > 1048576) then
    lines[#lines + 1] = string.format("output: %d lines, %d dropped (reader behind), %d not"
      .. " encodable, %d KiB waiting", o.lines, o.dropped, o.unwritable, math.floor(o.waiting / 1024))
  end
  return lines
end

--- Stops and frees everything (the reactor too, unless it was given); the output's last lines
-- out. @return true, or nil and why the output did not take them
function Host:close()
  if self.closed then
    return
  end
  self.closed = true
  reload.unwatch(self)
  if self.roll_timer then
    self.roll_timer:cancel()
  end
  if self.started then
    self.rt:stop()
    local deadline = reactor.now() + 2
    while not self.rt:done() and reactor.now() < deadline do
      self.R:step(50)
    end
  end
  self:flush()
  local ok, err = true, nil
  if self.output and self.output.close and not self.failed then
    ok, err = self.output.close()
    if not ok then
      self.log:error("%s", err)
    end
  end
  if self.record_file then
    self.record_file:close()
  end
  if self.own_reactor then
    self.R:free()
  end
  return ok, err
end

M.version = require("feedhost.core").version
return M
