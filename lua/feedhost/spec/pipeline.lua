--- feedhost.spec.pipeline: compiles one connection of a spec into one Lua function over a batch.
--
-- The whole inbound path of a connection (on_message hook, parser, auth ack/reject, payload_path,
-- frame split, router, converters) becomes one generated Lua chunk, expressions inlined as Lua
-- source, so LuaJIT traces it end to end. JSON frames are read through the C tape (no Lua table
-- per message); decoded binary frames, preprocess results and replaced frames go through the
-- same router and converters compiled a second time over plain Lua tables.
--
-- Errors never stop the pipeline: a failure is counted per kind and key path
-- (`converters.quote[1].fields.bid`), logged rate-limited with a truncated sample, and the element
-- (or frame) is skipped. JSON frames read through the tape alone run as one loop per batch under
-- one xpcall that resumes after a failing element; frames that go through hooks, preprocess or
-- decode run each under xpcall, and each of their elements too.
local ffi = require("ffi")
local pipeline_gen = require("feedhost.spec.pipeline_gen")
local tape = require("feedhost.spec.tape")
local json = require("feedhost.util.json")
local sys = require("feedhost.sys.ffi")
local watch = require("feedhost.sys.watch")

local M = {}

--- Compiles connection `conn` (a validated spec table) named `name`.
-- env: { registry, broker, credentials, mappings, helpers (feedhost.spec.helpers table), emit(rec),
--        log (feedhost.util.log logger), out (an fh_out *: records are written there as NDJSON
--        lines by the converters themselves, and emit is not called) }
-- @return pipeline { run = function(batch [, auth]), stats, source, name }
--   run(batch, auth, state): `auth` is the connection's auth state, { waiting = bool }: while waiting, every
--   frame is checked against auth.ack / auth.reject; run sets auth.acked = true or
--   auth.rejected = <the frame> when one holds, and auth.waiting = false. Each record goes to
--   env.emit under its own protected call: one that raises is counted in stats.app_errors (not
--   a spec error) and the next record is delivered. `state` is the connection's `state` table
--   (default: the pipeline's own, kept from run to run; reset_state() empties it).
--         or nil, errors (list of {path, msg}, paths relative to the connection)
function M.compile(conn, name, env)
  local registry = env.registry or {}
  -- records only to an NDJSON buffer: the converters write their lines, no record table
  local writers = env.out and require("feedhost.spec.codegen_out").writers(sys.api, env.out)
  local gen, gerrs = pipeline_gen.generate(conn, name, registry, writers ~= nil)
  if not gen then
    return nil, gerrs
  end
  local source, linemap, channels = gen.source, gen.linemap, gen.channels
  local chunkname = "=pipeline:" .. name
  -- environment: registry functions and the safe library; anything else is a spec bug that
  -- expr.check already reported, so reaching __index means generated-code misuse
  local envt = require("feedhost.spec.sandbox").expr_env(registry)
  envt.setmetatable, envt.getmetatable, envt.xpcall = setmetatable, getmetatable, xpcall
  setmetatable(envt, { __index = function(_, k)
    error("unknown name '" .. tostring(k) .. "'", 2)
  end })
  local chunk, err = load(source, chunkname, "t", envt)
  if not chunk then
    error("feedhost: generated code for connection '" .. name .. "' does not compile: " .. err
      .. "\n" .. source)
  end

  local stats = {
    frames = 0, records = 0, by_channel = {}, errors = 0, error_kinds = {}, error_paths = {},
    unrouted = 0, unconverted = 0, dropped = 0, heartbeats = 0, info = 0, empty = 0, app_errors = 0,
    skipped = 0,
  }
  local log = env.log
  local function count_error(kind, path, msg, sample)
    stats.errors = stats.errors + 1
    stats.error_kinds[kind] = (stats.error_kinds[kind] or 0) + 1
    local key = path or kind
    stats.error_paths[key] = (stats.error_paths[key] or 0) + 1
    if log then
      log:event(kind == "symbol_not_found" and "warning" or "error", kind .. ":" .. key,
        string.format("[%s] %s%s: %s", name, kind, path and (" at " .. path) or "", msg), sample)
    end
  end

  local function handler(e)
    local path
    for level = 2, 40 do
      local info = debug.getinfo(level, "Sl")
      if not info then
        break
      end
      if info.source == chunkname then
        path = linemap[info.currentline]
        break
      end
    end
    return { err = e, path = path }
  end

  local reader
  -- the frame's bytes for a log line (at most 512); when the failing element (token `el`) starts
  -- past what that shows, from the element on ("@byte N: ...")
  local function sample_of(p, len, el)
    if p == nil then
      return nil
    end
    local off = 0
    if el and el > 0 then
      off = reader.tape()[el].start
      if off < 384 or off >= tonumber(len) then
        off = 0
      end
    end
    local s = ffi.string(p + off, math.min(tonumber(len) - off, 512))
    return off > 0 and ("@byte " .. off .. ": " .. s) or s
  end

  -- the watchdog interrupted spec code that ran over its budget: the rest of the batch is
  -- dropped (stats.skipped), the interrupt taken
  local abort = false
  local function fail(e, p, len, el)
    if writers then
      writers.cancel()   -- the line the failing record had begun
    end
    local err, path = e, nil
    if type(e) == "table" and e.err ~= nil then
      err, path = e.err, e.path
    end
    if watch.is_budget(err) then
      watch.taken()
      abort = true
      count_error("budget", path, tostring(err):gsub("^.-feedhost: budget: ", "")
        .. "; the rest of the batch was dropped", sample_of(p, len, el))
      return true
    end
    local kind = "expression"
    local msg
    if type(err) == "table" then
      kind = err.kind == "SymbolNotFound" and "symbol_not_found" or (err.kind or kind)
      msg = tostring(err.msg or err)
    else
      msg = tostring(err):gsub("^pipeline:[%w_]+:%d+: ", "")
    end
    if path and (path:match("^hooks%.") ) then
      kind = "hook"
    elseif path and path:match("^parser%.decode") or path == "parser.preprocess" then
      kind = "decode"
    end
    count_error(kind, path, msg, sample_of(p, len, el))
    return false
  end

  local function parse_fail(perr, poff, p, len)
    count_error("parse", nil, perr .. (poff and (" at byte " .. poff) or ""), sample_of(p, len))
  end

  local by_channel = stats.by_channel
  local sink = env.emit
  -- a record goes to the sink as soon as it is made, under its own protected call: a sink that
  -- raises (the application's callback) is counted apart from the spec's errors
  local function app_failed(e)
    if watch.is_budget(e) then
      watch.taken()
    end
    stats.app_errors = stats.app_errors + 1
    if log then
      log:event("error", "app:" .. name, string.format("[%s] the application's record callback"
        .. " failed (record skipped): %s", name, tostring(e)))
    end
  end
  local function emit(r)
    stats.records = stats.records + 1
    if writers then   -- the line is written: `r` is its channel
      by_channel[r] = (by_channel[r] or 0) + 1
      return
    end
    local ch = r.channel
    by_channel[ch] = (by_channel[ch] or 0) + 1
    if sink then
      local ok, e = pcall(sink, r)
      if not ok then
        app_failed(e)
      end
    end
  end

  local function nochan(ch)
    if ch == "heartbeat" then
      stats.heartbeats = stats.heartbeats + 1
    elseif ch == "info" then
      stats.info = stats.info + 1
    elseif ch == "unknown" then
      stats.unrouted = stats.unrouted + 1
    else
      stats.unconverted = stats.unconverted + 1
    end
  end

  local function noconv(ch)
    stats.unconverted = stats.unconverted + 1
  end

  local broker = env.broker
  local credentials = env.credentials
  local mappings = env.mappings
  -- the connection's state table (hooks write it, routers and converters read it): the one run
  -- is given, else the pipeline's own (replay, bench)
  local own_state = {}
  local cur_state = own_state
  local function mkctx(data, received_at, channel, topic)
    return { data = data, broker = broker, credentials = credentials, mappings = mappings,
      connection_name = name, channel = channel, received_at = received_at, topic = topic,
      event = topic, state = cur_state }
  end

  -- the auth check's view of the connection being run (see run below)
  local auth = { waiting = false }
  function auth.ack()
    auth.waiting, auth.acked = false, true
  end
  function auth.reject(d)
    auth.waiting, auth.rejected = false, d == nil and true or d
  end

  -- room for the tokens of the largest frame the connection accepts (a JSON text of n bytes has
  -- at most n/2 + 1 tokens: "[0,0,...]"); the tape grows to it only when such a frame comes
  local max_frame = (conn.limits or {}).max_frame_bytes or 16 * 1024 * 1024
  reader = env.reader or tape.new(math.floor(max_frame / 2) + 16)
  local X = {
    broker = broker, credentials = credentials, mappings = mappings, connection_name = name,
    emit = emit, fail = fail, parse_fail = parse_fail, stats = stats, handler = handler,
    mkctx = mkctx, ctx0 = mkctx(nil, nil, nil), nochan = nochan, noconv = noconv,
    auth = auth, ARR = json.array_mt, cast = function(s) return ffi.cast("const char *", s) end,
    ffi_string = ffi.string,
    u8 = function(p) return ffi.cast("const uint8_t *", p) end,
    FRAME_BINARY = sys.C.FH_FRAME_BINARY, J_ARR = sys.C.FH_J_ARR,
    aborted = function() return abort end, watch_at = watch.at, out = writers,
    out_buf = writers and env.out,
  }
  local inner = chunk(gen.consts, reader, env.helpers, X)
  local function run(batch, st, state)
    abort = false
    if st then
      auth.waiting, auth.acked, auth.rejected = st.waiting, nil, nil
    else
      auth.waiting = false
    end
    cur_state = state or own_state
    inner(batch, cur_state)
    if st then
      st.waiting, st.acked, st.rejected = auth.waiting, auth.acked, auth.rejected
    end
  end
  return {
    name = name,
    run = run,
    reset_state = function() own_state = {} end,
    stats = stats,
    source = source,
    channels = channels,
  }
end

return M
