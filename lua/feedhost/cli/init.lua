--- feedhost.cli: the `feedhost` command (host/main.c calls M.main(args) and exits with its result).
-- Exit codes: 0 done, 1 runtime failure, 2 usage or spec error.
local M = {}

local USAGE = [[
usage: feedhost <command> [options]

commands:
  check SPEC [--assets A,B] [--credentials F]
        validate a spec; list its connections and print the exact frames it would send
  replay SPEC CAPTURE [--connection NAME] [--assets A,B] [--credentials F] [--output ndjson|none]
        run captured frames through the compiled pipeline; records as NDJSON on stdout,
        a summary on stderr
  run SPEC [--assets A,B] [--credentials F] [--url CONN=URL] [--record F] [--output ndjson|none]
        every connection of the spec live: records as NDJSON on stdout, stats on stderr
  demo [--rate N] [--assets A,B] [--output ndjson|none]
        a local Alpaca-protocol simulator and specs/alpaca.lua streaming from it
  simulate [--port N] [--rate N]
        only the simulator: a WebSocket server speaking Alpaca's market-data protocol
  bench SPEC POOL [N] [--assets A,B]
        replay benchmark: N messages (one per line of POOL) through the pipeline, in memory
  bench-client --port N [--path P]
        live benchmark: the `custom` client of ../shared/bench/run.sh
  help [COMMAND]

Run `feedhost COMMAND --help` for the options of one command.
Credentials come from --credentials (a Lua file returning a table, or a JSON object) or the
environment: <NAME>_<FIELD>, e.g. ALPACA_API_KEY.
]]

local HELP = {
  ["bench-client"] = [[
usage: feedhost bench-client --port N [--path P] [--host H] [--spec SPEC] [--connection NAME]

The `custom` client of ../shared/bench/run.sh: connects to ws://H:N/P (default host 127.0.0.1),
runs every message through the connection's compiled pipeline (default specs/alpaca.lua,
market_data) without auth or subscribe (the load generator streams on connect), and when the
server closes prints one JSON line: {"impl","msgs","payload_bytes","records","size_sum","errors",
"secs","msg_per_s","mb_per_s","cpu_secs"}. Timing starts at the first message.
]],
  run = [[
usage: feedhost run SPEC [--assets A,B | --assets-file F] [--credentials FILE] [--url CONN=URL]
                    [--record FILE] [--output ndjson|none] [--log-level LEVEL]
                    [--stats-interval SECS] [--connection NAME] [--ca-file F] [--insecure] [--once]

Connects every connection of SPEC (or only --connection NAME), authenticates, subscribes the
assets and prints records as NDJSON on stdout. Every --stats-interval seconds (default 5; 0: off)
one line per connection goes to stderr: state, frames/s, records/s, totals, errors, reconnects,
age of the last frame. Lost connections come back with backoff, auth and a full resubscription.

  --url CONN=URL     connect CONN to URL instead of the spec's (repeatable, or comma-separated)
  --record FILE      write every frame in and out as a capture that `feedhost replay` reads
  --ca-file F        trust the CAs in F for wss:// (default: the system store)
  --insecure         do not verify server certificates
  --once             do not reconnect; exit when every connection has closed
SIGINT or SIGTERM closes the connections and exits 0.
]],
  demo = [[
usage: feedhost demo [--rate N] [--assets A,B] [--output ndjson|none] [--stats-interval SECS]
                     [--duration SECS]

Starts the embedded exchange simulator (a WebSocket server speaking Alpaca's market-data
protocol on 127.0.0.1) and runs specs/alpaca.lua against it, unchanged but for the URL:
records stream on stdout, a stats line on stderr. Ctrl-C stops it.
]],
  check = [[
usage: feedhost check SPEC [--assets A,B | --assets-file F] [--credentials FILE]

Validates SPEC (every error at once, each with its key path; exit 2 on any), then lists its
connections and prints, per connection, the URL, the handshake headers and the exact frames it
would send: the auth message first, then the subscribe messages per channel for the assets.
]],
  replay = [[
usage: feedhost replay SPEC CAPTURE [--connection NAME] [--assets A,B] [--credentials FILE]
                       [--output ndjson|none] [--log-level LEVEL]

Runs the "in" frames of CAPTURE (JSON lines {"ts","connection","dir","text"|"binary"}) through
the compiled pipeline of each connection. Records go to stdout as NDJSON; a summary (frames,
records per channel, errors per connection, kind and key path) goes to stderr. Bad frames are
counted and skipped. Missing credentials are allowed (replay sends nothing).
]],
  bench = [[
usage: feedhost bench SPEC POOL [N] [--connection NAME] [--assets A,B] [--batch K]

In-process replay benchmark: the lines of POOL are loaded into batches of K frames (default
256) in memory, then N messages (default 1,000,000) are run through the connection's compiled
pipeline. Records are kept in a ring of 1024 so they escape. Prints one JSON line:
{"impl","msgs","records","size_sum","secs","msg_per_s","mb_per_s"}.
]],
}

local function stderr(fmt, ...)
  io.stderr:write(string.format(fmt, ...), "\n")
end

-- options parser: flags with values; positional arguments in order
local function parse_args(args, spec)
  local opts, pos = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then
      opts.help = true
    elseif a:sub(1, 2) == "--" then
      local k, v = a:match("^%-%-([%w%-]+)=(.*)$")
      k = k or a:sub(3)
      local kind = spec[k]
      if not kind then
        return nil, "unknown option --" .. k
      end
      if kind == "flag" then
        opts[k] = true
      elseif kind == "list" then
        if not v then
          i = i + 1
          v = args[i]
          if v == nil then
            return nil, "option --" .. k .. " needs a value"
          end
        end
        opts[k] = opts[k] or {}
        table.insert(opts[k], v)
      else
        if not v then
          i = i + 1
          v = args[i]
          if v == nil then
            return nil, "option --" .. k .. " needs a value"
          end
        end
        opts[k] = v
      end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return opts, pos
end

-- The start every command shares: options parsed, --help answered, the positional count
-- checked (`npos`: exact count, or {min = n}), --output checked when the command has it.
-- @return opts, pos; or nil, exit code after printing why
local function command_args(cmd, args, spec, npos)
  local opts, pos = parse_args(args, spec)
  if not opts then
    stderr("feedhost %s: %s", cmd, pos)
    return nil, 2
  end
  if opts.help then
    io.stdout:write(HELP[cmd])
    return nil, 0
  end
  local want_min = type(npos) == "table" and npos.min or npos
  if (type(npos) == "number" and #pos ~= npos) or #pos < want_min then
    io.stderr:write(HELP[cmd])
    return nil, 2
  end
  if spec.output then
    opts.output = opts.output or "ndjson"
    if opts.output ~= "ndjson" and opts.output ~= "none" then
      stderr("feedhost %s: --output must be ndjson or none", cmd)
      return nil, 2
    end
  end
  return opts, pos
end

local function split_list(s)
  local out = {}
  for x in (s or ""):gmatch("[^,%s]+") do
    out[#out + 1] = x
  end
  return out
end

local function read_assets(opts)
  local list = split_list(opts.assets)
  if opts["assets-file"] then
    local f = io.open(opts["assets-file"], "r")
    if not f then
      return nil, "cannot read --assets-file " .. opts["assets-file"]
    end
    for line in f:lines() do
      for _, x in ipairs(split_list(line:gsub("#.*", ""))) do
        list[#list + 1] = x
      end
    end
    f:close()
  end
  return list
end

-- load + validate; on error print every error and return nil
local function load_spec(path)
  local specmod = require("feedhost.spec")
  local loaded, errs, file = specmod.load(path)
  if not loaded then
    io.stderr:write(specmod.format_errors(errs, file), "\n")
    stderr("feedhost: %s: %d error%s", file, #errs, #errs == 1 and "" or "s")
    return nil
  end
  return loaded
end

local function make_log(opts)
  local log = require("feedhost.util.log")
  return log.new({ level = opts["log-level"] or "warning" })
end

local function credentials_for(loaded, opts, lenient, log)
  local specmod = require("feedhost.spec")
  local given
  if opts.credentials then
    local err
    given, err = specmod.read_credentials(opts.credentials)
    if not given then
      return nil, err
    end
  end
  local creds, err = specmod.credentials(loaded.spec, given)
  if not creds then
    if not lenient then
      return nil, err .. " (give --credentials FILE or set the environment variable)"
    end
    creds = given or {}
  end
  if log then
    for _, v in pairs(creds) do
      if type(v) == "string" then
        log:add_secret(v)
      end
    end
  end
  return creds
end

local function compile(loaded, opts, extra)
  local specmod = require("feedhost.spec")
  local compiled, errs = specmod.compile(loaded, extra)
  if not compiled then
    io.stderr:write(specmod.format_errors(errs, loaded.file), "\n")
    stderr("feedhost: %s: %d error%s", loaded.file, #errs, #errs == 1 and "" or "s")
    return nil
  end
  return compiled
end

local function frame_text(fr)
  local head = ""
  if fr.event then
    head = "(event " .. fr.event .. (fr.namespace and (" " .. fr.namespace) or "") .. ") "
  end
  if fr.text then
    return head .. fr.text
  elseif fr.binary then
    return head .. "(binary " .. #fr.binary .. " bytes) " .. require("feedhost.bytes").to_hex(fr.binary)
  elseif fr.http then
    local h = fr.http
    return head .. h.method .. " " .. h.url .. (h.body and (" " .. h.body) or "")
  elseif fr.topics then
    return head .. "topics " .. require("feedhost.util.json").encode(fr.topics)
  end
  return head .. "(empty)"
end

function M.check(args)
  local opts, pos = command_args("check", args, { assets = "value", ["assets-file"] = "value",
    credentials = "value" }, 1)
  if not opts then
    return pos
  end
  local loaded = load_spec(pos[1])
  if not loaded then
    return 2
  end
  local symbols, aerr = read_assets(opts)
  if not symbols then
    stderr("feedhost check: %s", aerr)
    return 2
  end
  local creds, cerr = credentials_for(loaded, opts, false)
  if not creds then
    stderr("feedhost check: %s: %s", loaded.file, cerr)
    return 2
  end
  local compiled = compile(loaded, opts, { credentials = creds })
  if not compiled then
    return 2
  end
  local ok, list = pcall(function() return compiled.universe:resolve(symbols) end)
  if not ok then
    stderr("feedhost check: --assets: %s", tostring(type(list) == "table" and list.msg or list))
    return 2
  end
  local out = {}
  out[#out + 1] = string.format("%s: ok: spec '%s', %d connection%s", loaded.file, compiled.name,
    #compiled.order, #compiled.order == 1 and "" or "s")
  for _, name in ipairs(compiled.order) do
    local c = compiled.connections[name]
    local conn = c.spec
    out[#out + 1] = ""
    out[#out + 1] = string.format("connection %s (%s, auth %s)", name, c.backend, c.auth_mode or "none")
    out[#out + 1] = "  url: " .. c.url()
    out[#out + 1] = "  streams: " .. table.concat(conn.streams or {}, ", ")
    for _, h in ipairs(c.headers()) do
      out[#out + 1] = "  header: " .. h[1] .. ": " .. h[2]
    end
    local rendered, err = pcall(function()
      local lines = {}
      for _, fr in ipairs(c.auth_frames()) do
        lines[#lines + 1] = "  > auth: " .. frame_text(fr)
      end
      -- what `run` sends, assets or not (trade_updates needs none)
      for _, fr in ipairs(c.subscribe(list)) do
        lines[#lines + 1] = "  > subscribe " .. fr.channel .. ": " .. frame_text(fr)
      end
      return lines
    end)
    if not rendered then
      stderr("feedhost check: %s: connection %s: %s", loaded.file, name, tostring(err))
      return 2
    end
    for _, l in ipairs(err) do
      out[#out + 1] = l
    end
    if #list == 0 and conn.subscribe then
      out[#out + 1] = "  (no --assets: these are the frames for an empty asset list)"
    end
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
  return 0
end

local function summary_lines(compiled, rsum)
  local lines = {}
  local total_frames, total_records, total_errors = 0, 0, 0
  for _, name in ipairs(compiled.order) do
    local p = compiled.connections[name].pipeline
    local s = p.stats
    if s.frames > 0 then
      total_frames = total_frames + s.frames
      total_records = total_records + s.records
      total_errors = total_errors + s.errors
      local chans = {}
      local keys = {}
      for ch in pairs(s.by_channel) do
        keys[#keys + 1] = ch
      end
      table.sort(keys)
      for _, ch in ipairs(keys) do
        chans[#chans + 1] = ch .. " " .. s.by_channel[ch]
      end
      lines[#lines + 1] = string.format("  %s: frames %d, records %d (%s), errors %d%s", name, s.frames,
        s.records, #chans > 0 and table.concat(chans, ", ") or "none", s.errors,
        (s.unrouted + s.unconverted + s.dropped + s.empty + s.info + s.heartbeats) > 0 and string.format(
          "; unrouted %d, unconverted %d, dropped %d, empty %d, info %d, heartbeats %d", s.unrouted,
          s.unconverted, s.dropped, s.empty, s.info, s.heartbeats) or "")
      local paths = {}
      for path in pairs(s.error_paths) do
        paths[#paths + 1] = path
      end
      table.sort(paths)
      local kinds = {}
      for k, n in pairs(s.error_kinds) do
        kinds[#kinds + 1] = k .. " " .. n
      end
      table.sort(kinds)
      if #kinds > 0 then
        lines[#lines + 1] = "    errors by kind: " .. table.concat(kinds, ", ")
      end
      for _, path in ipairs(paths) do
        lines[#lines + 1] = string.format("    errors at %s: %d", path, s.error_paths[path])
      end
    end
  end
  table.insert(lines, 1, string.format("replay: %d frames, %d records, %d errors", total_frames, total_records,
    total_errors))
  for name, n in pairs(rsum.unknown_connections) do
    lines[#lines + 1] = string.format("  %d frames for connection '%s', which the spec does not have", n, name)
  end
  if rsum.bad_lines > 0 then
    lines[#lines + 1] = string.format("  %d unreadable capture lines: %s", rsum.bad_lines,
      table.concat(rsum.bad_samples, "; "))
  end
  return lines
end

function M.replay(args)
  local opts, pos = command_args("replay", args, { assets = "value", ["assets-file"] = "value",
    credentials = "value", connection = "value", output = "value", ["log-level"] = "value" }, 2)
  if not opts then
    return pos
  end
  local output = opts.output
  local loaded = load_spec(pos[1])
  if not loaded then
    return 2
  end
  local specmod = require("feedhost.spec")
  local src = specmod.read_file(pos[2])
  if not src then
    stderr("feedhost replay: cannot read capture %s", pos[2])
    return 2
  end
  local log = make_log(opts)
  local creds, cerr = credentials_for(loaded, opts, true, log)
  if not creds then
    stderr("feedhost replay: %s", cerr)
    return 2
  end
  local record = require("feedhost.data.record")
  local out, n = {}, 0
  local function emit(r)
    if output == "ndjson" then
      n = n + 1
      out[n] = record.ndjson(r, r.channel, r.connection)
      if n >= 512 then
        io.stdout:write(table.concat(out, "\n", 1, n), "\n")
        n = 0
      end
    end
  end
  local symbols = read_assets(opts) or {}
  local compiled = compile(loaded, opts, { credentials = creds, emit = emit, log = log, open_assets = symbols })
  if not compiled then
    return 2
  end
  if opts.connection and not compiled.connections[opts.connection] then
    stderr("feedhost replay: --connection %s: the spec has %s", opts.connection, table.concat(compiled.order, ", "))
    return 2
  end
  local replay = require("feedhost.runtime.replay")
  local rsum = replay.run(compiled, src, { connection = opts.connection })
  if n > 0 then
    io.stdout:write(table.concat(out, "\n", 1, n), "\n")
  end
  io.stdout:flush()
  io.stderr:write(table.concat(summary_lines(compiled, rsum), "\n"), "\n")
  return 0
end

-- The benchmarks' record sink, as ../shared/bench/lua/convert.lua counts: records kept in a ring
-- of 1024 so they escape, and size_sum, the sum of data.volume. acc.nrec, acc.size_sum.
local function bench_sink()
  local band = require("bit").band
  local acc = { nrec = 0, size_sum = 0, flush = function() end }
  local ring = {}
  function acc.emit(r)
    local n = acc.nrec + 1
    acc.nrec = n
    ring[band(n, 1023) + 1] = r
    local d = r.data
    if d then
      local v = d.volume
      if v then
        acc.size_sum = acc.size_sum + v
      end
    end
  end
  return acc
end

function M.bench(args)
  local opts, pos = command_args("bench", args, { assets = "value", connection = "value", batch = "value" },
    { min = 2 })
  if not opts then
    return pos
  end
  local loaded = load_spec(pos[1])
  if not loaded then
    return 2
  end
  local specmod = require("feedhost.spec")
  local src = specmod.read_file(pos[2])
  if not src then
    stderr("feedhost bench: cannot read %s", pos[2])
    return 2
  end
  local n = tonumber(pos[3] or "1000000")
  local acc = bench_sink()
  local emit = acc.emit
  local creds = credentials_for(loaded, opts, true)
  local compiled = compile(loaded, opts, { credentials = creds, emit = emit, open_assets = split_list(opts.assets) })
  if not compiled then
    return 2
  end
  local name = opts.connection or compiled.order[1]
  local c = compiled.connections[name]
  if not c then
    stderr("feedhost bench: no connection %s", name)
    return 2
  end
  local cffi = require("feedhost.sys.ffi")
  local per = tonumber(opts.batch or "256")
  local lines = {}
  for line in src:gmatch("[^\n]+") do
    lines[#lines + 1] = line
  end
  -- the pool as batches of `per` frames, built once
  local batches, bytes = {}, 0
  local i = 0
  while i < #lines do
    local b = cffi.batch(per * 300, per)
    for k = 1, math.min(per, #lines - i) do
      local s = lines[i + k]
      cffi.api.batch_push(b, 1, 1, 1700000000000000000LL, s, #s)
    end
    i = i + per
    batches[#batches + 1] = b
  end
  local run = c.pipeline.run
  collectgarbage()
  local t0 = os.clock()
  local done, k = 0, 0
  while done < n do
    k = k % #batches + 1
    local b = batches[k]
    local m = tonumber(b.n)
    if done + m > n then
      -- the tail of the last batch: a partial copy
      local part = cffi.batch(per * 300, per)
      for j = 0, n - done - 1 do
        local fr = b.frames[j]
        cffi.api.batch_push(part, 1, 1, fr.ts, b.buf + fr.off, fr.len)
      end
      b, m = part, n - done
    end
    bytes = bytes + tonumber(b.used)
    run(b)
    done = done + m
  end
  local dt = os.clock() - t0
  local errs = c.pipeline.stats.errors
  io.stdout:write(string.format('{"impl":"feedhost-replay","case":"feedhost pipeline (%s)","msgs":%d,"records":%d,'
    .. '"size_sum":%d,"errors":%d,"secs":%.3f,"msg_per_s":%.0f,"mb_per_s":%.1f}\n', loaded.spec.name, n, acc.nrec,
    acc.size_sum, errs, dt, n / dt, bytes / dt / 1e6))
  return 0
end

-- "a=ws://x,b=ws://y" (and repeated --url) -> {a = url, b = url}
local function parse_urls(list)
  local out = {}
  for _, item in ipairs(list) do
    for part in item:gmatch("[^,]+") do
      local k, v = part:match("^%s*([%w_%-]+)=(.+)$")
      if not k then
        return nil, "--url wants CONN=URL, got " .. part
      end
      out[k] = v
    end
  end
  return out
end

-- NDJSON writer for records: buffered, flushed after each loop step
local function ndjson_sink(output)
  local record = require("feedhost.data.record")
  local out, n = {}, 0
  local sink = {}
  function sink.emit(r)
    if output == "ndjson" then
      n = n + 1
      out[n] = record.ndjson(r, r.channel, r.connection)
    end
  end
  function sink.flush()
    if n > 0 then
      io.stdout:write(table.concat(out, "\n", 1, n), "\n")
      io.stdout:flush()
      for i = 1, n do
        out[i] = nil
      end
      n = 0
    end
  end
  return sink
end

-- Runs `host` until a signal (exit 0), or with --once until every socket closed.
-- opts: stats_interval, log, sink, duration
local function drive(host, opts)
  local R, rt = host.R, host.rt
  local log = opts.log
  local stop_at
  R.on_signal = function(sig)
    if sig == 1 then   -- SIGHUP
      log:info("SIGHUP: reload is not part of this version; still running")
      return
    end
    if not rt.stopping then
      log:info("signal %d: closing", sig)
      rt:stop()
      stop_at = require("feedhost.runtime.reactor").now() + 3
    end
  end
  R:catch_signals()
  if opts.stats_interval and opts.stats_interval > 0 then
    R:every(opts.stats_interval, function()
      for _, line in ipairs(rt:stats_lines()) do
        log:info("%s", line)
      end
    end)
  end
  if opts.duration then
    R:after(opts.duration, function() R.on_signal(15) end)
  end
  host:start()
  local now = require("feedhost.runtime.reactor").now
  while true do
    R:step(250)
    opts.sink.flush()
    if (rt.stopping or rt.once) and rt:done() then
      break
    end
    if stop_at and now() > stop_at then
      log:warning("connections did not close in time; exiting")
      break
    end
  end
  opts.sink.flush()
  return 0
end

-- A host (feedhost.new) from the command line options; nil, exit code after printing why.
local function live_host(opts, cmd, log, sink, extra)
  local symbols, aerr = read_assets(opts)
  if not symbols then
    stderr("feedhost %s: %s", cmd, aerr)
    return nil, 2
  end
  local urls, uerr = parse_urls(opts.url or {})
  if not urls then
    stderr("feedhost %s: %s", cmd, uerr)
    return nil, 2
  end
  for k, v in pairs(extra.urls or {}) do
    urls[k] = v
  end
  local host, err, code = require("feedhost").new({
    spec = extra.spec, credentials = extra.credentials or opts.credentials, assets = symbols,
    urls = urls, log = log, emit = sink.emit, once = opts.once or extra.once, record = opts.record,
    connections = opts.connection and { opts.connection } or nil,
    tls = { ca_file = opts["ca-file"], insecure = opts.insecure },
    lenient_credentials = extra.lenient_credentials, reactor = extra.reactor, adjust = extra.adjust,
  })
  if not host then
    if err:find("\n", 1, true) then
      io.stderr:write(err, "\n")
    else
      stderr("feedhost %s: %s", cmd, err)
    end
    return nil, code
  end
  return host
end

local RUN_OPTS = { assets = "value", ["assets-file"] = "value", credentials = "value", url = "list",
  record = "value", output = "value", ["log-level"] = "value", ["stats-interval"] = "value",
  connection = "value", ["ca-file"] = "value", insecure = "flag", once = "flag" }

function M.run(args)
  local opts, pos = command_args("run", args, RUN_OPTS, 1)
  if not opts then
    return pos
  end
  local output = opts.output
  local interval = tonumber(opts["stats-interval"] or "5")
  if not interval or interval < 0 then
    stderr("feedhost run: --stats-interval wants a number of seconds")
    return 2
  end
  local log = require("feedhost.util.log").new({ level = opts["log-level"] or "info" })
  local sink = ndjson_sink(output)
  local host, rc = live_host(opts, "run", log, sink, { spec = pos[1] })
  if not host then
    return rc
  end
  local code = drive(host, { log = log, sink = sink, stats_interval = interval })
  host:close()
  return code
end

function M.simulate(args)
  return require("feedhost.sim.alpaca").cli(args)
end

function M.demo(args)
  local opts, pos = command_args("demo", args, { rate = "value", assets = "value", output = "value",
    ["stats-interval"] = "value", ["log-level"] = "value", duration = "value" }, 0)
  if not opts then
    return pos
  end
  local output = opts.output
  local log = require("feedhost.util.log").new({ level = opts["log-level"] or "info" })
  local sink = ndjson_sink(output)
  local key, secret = "demo-key", "demo-secret"
  opts.assets = opts.assets or "AAPL,MSFT,TSLA"
  opts.connection = "market_data"
  -- the simulator runs on the host's own reactor, beside the feed
  local R, rerr = require("feedhost.runtime.reactor").new()
  if not R then
    stderr("feedhost demo: %s", tostring(rerr))
    return 1
  end
  local sim = require("feedhost.sim.alpaca").new(R, { key = key, secret = secret,
    rate = tonumber(opts.rate or "5"), log = log:child("simulator") })
  sim:start()
  local host, rc = live_host(opts, "demo", log, sink, { spec = "specs/alpaca.lua",
    credentials = { api_key = key, api_secret = secret }, urls = { market_data = sim:url() },
    reactor = R })
  if not host then
    R:free()
    return rc
  end
  log:info("simulator listening on %s; streaming %s through specs/alpaca.lua", sim:url(), opts.assets)
  local code = drive(host, { log = log, sink = sink,
    stats_interval = tonumber(opts["stats-interval"] or "5"), duration = tonumber(opts.duration or "") })
  host:close()
  sim:stop()
  R:free()
  return code
end

-- `feedhost bench-client`: the `custom` client of ../shared/bench/run.sh. Connects to the load
-- generator (no auth, no subscribe: it streams on connect), runs every message through the
-- spec's compiled pipeline and prints one JSON line when the server closes.
M["bench-client"] = function(args)
  local opts, pos = command_args("bench-client", args, { port = "value", path = "value", spec = "value",
    connection = "value", host = "value" }, 0)
  if not opts then
    return pos
  end
  if not opts.port then
    io.stderr:write(HELP["bench-client"])
    return 2
  end
  local name = opts.connection or "market_data"
  local acc = bench_sink()
  local log = require("feedhost.util.log").new({ level = "warning" })
  opts.connection = name
  local url = string.format("ws://%s:%s%s", opts.host or "127.0.0.1", opts.port, opts.path or "/")
  local host, rc = live_host(opts, "bench-client", log, acc, { spec = opts.spec or "specs/alpaca.lua",
    urls = { [name] = url }, once = true, lenient_credentials = true,
    -- the generator streams on connect: no auth, no subscribe, no credentials
    adjust = function(spec)
      local conn = spec.streaming.connections[name]
      if conn then
        conn.auth, conn.subscribe = nil, nil
      end
      spec.credentials = nil
    end })
  if not host then
    return rc
  end
  local socket = host.rt.sockets[1]
  local t0, c0, bytes
  local on_frames = socket.on_frames
  function socket.on_frames(s, id, batch)
    if not t0 then
      t0, c0 = require("feedhost.runtime.reactor").now(), os.clock()
      bytes = 0
    end
    bytes = bytes + tonumber(batch.used)
    return on_frames(s, id, batch)
  end
  drive(host, { log = log, sink = acc })
  local secs = require("feedhost.runtime.reactor").now() - (t0 or 0)
  local msgs = socket.frames
  io.stdout:write(string.format('{"role":"client","impl":"feedhost","msgs":%d,"payload_bytes":%d,"records":%d,'
    .. '"size_sum":%d,"errors":%d,"secs":%.3f,"msg_per_s":%.0f,"mb_per_s":%.1f,"cpu_secs":%.3f}\n',
    msgs, bytes or 0, acc.nrec, acc.size_sum, socket.errors, secs, msgs / secs, (bytes or 0) / secs / 1e6,
    os.clock() - (c0 or 0)))
  host:close()
  return 0
end

function M.main(args)
  local cmd = args[1]
  local rest = { unpack(args, 2) }
  if cmd == nil or cmd == "help" or cmd == "--help" or cmd == "-h" then
    if rest[1] and HELP[rest[1]] then
      io.stdout:write(HELP[rest[1]])
    else
      io.stdout:write(USAGE)
    end
    return cmd == nil and 2 or 0
  end
  if cmd == "--version" or cmd == "version" then
    io.stdout:write("feedhost ", require("feedhost.core").version, "\n")
    return 0
  end
  local fn = M[cmd]
  if type(fn) ~= "function" or cmd == "main" then
    stderr("feedhost: unknown command '%s'\n%s", cmd, USAGE)
    return 2
  end
  -- The feed's live heap is small and steady (stores, compiled pipelines) while records come and
  -- go by the million: collecting at 4x instead of 2x the live size halves the GC's marking
  -- and sweeping for the same peak of a few MB. (An embedding application keeps its own policy.)
  collectgarbage("setpause", 400)
  local ok, rc = xpcall(fn, debug.traceback, rest)
  if not ok then
    stderr("feedhost %s: internal error: %s", cmd, tostring(rc))
    return 1
  end
  return rc
end

return M
