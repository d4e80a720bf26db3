--- feedhost.spec.pipeline_gen: the code generation of a connection's pipeline (see
-- feedhost.spec.pipeline): router, converters, auth check, payload_path, the table path, and
-- either the JSON fast path (one protected loop per batch) or the general frame path.
local codegen = require("feedhost.spec.codegen")
local codegen_out = require("feedhost.spec.codegen_out")
local expr = require("feedhost.spec.expr")
local fanout = require("feedhost.spec.fanout")

local M = {}

-- the channels of a connection: its streams in order, then any other converter channel sorted
local function channel_list(conn)
  local list, seen = {}, {}
  for _, ch in ipairs(conn.streams or {}) do
    if not seen[ch] then
      list[#list + 1], seen[ch] = ch, true
    end
  end
  local extra = {}
  for ch in pairs(conn.converters or {}) do
    if not seen[ch] then
      extra[#extra + 1] = ch
    end
  end
  table.sort(extra)
  for _, ch in ipairs(extra) do
    list[#list + 1], seen[ch] = ch, true
  end
  return list
end

local HEADER = [[
local _K, _R, _H, _X = ...
local _JG, _JT, _JM, _JTS, _JSTR, _JEQ, _P = _R.get, _R.tok, _R.mat, _R.ts, _R.str_of, _R.eq, _R.parse
local _RLEN, _RNEXT, _RTYPE, _JEQT = _R.len, _R.next, _R.type, _R.eqt
local num, int, str, ts, now, map, filter, split, json = _H.num, _H.int, _H.str, _H.ts, _H.now, _H.map, _H.filter, _H.split, _H.json
local broker, credentials, mappings, connection_name = _X.broker, _X.credentials, _X.mappings, _X.connection_name
local _emit, _fail, _parse_fail, _S, _HANDLER, _MKCTX, _CTX0 = _X.emit, _X.fail, _X.parse_fail, _X.stats, _X.handler, _X.mkctx, _X.ctx0
local _nochan, _noconv, _AUTH, _ARR, _cast, _u8 = _X.nochan, _X.noconv, _X.auth, _X.ARR, _X.cast, _X.u8
local _BINARY, _J_ARR, _ABORTED, _W = _X.FRAME_BINARY, _X.J_ARR, _X.aborted, _X.watch_at
local _ffi_string, setmetatable, getmetatable, type, xpcall, pcall = _X.ffi_string, setmetatable, getmetatable, type, xpcall, pcall
local _OB, _OKV, _OO, _OC, _OE, _OL -- the NDJSON writers, when records go straight to lines
if _X.out then local W = _X.out _OB, _OKV, _OO, _OC, _OE, _OL = W.begin, W.kv, W.open, W.close, W.finish, W.line end
local _JON, _OUTB = _R.out_num, _X.out_buf -- num(data.x) written from the tape's digits
local topic, event -- the frame's metadata (an MQTT topic, a Socket.IO event name, ...), set per
-- frame when the spec reads it; `event` is the same value under its Socket.IO name
local state -- the connection's state table, set per batch]]

-- Code of the context table given to spec functions in `mode`, for `channel` (code).
local function ctx_code(g, mode, channel)
  local c = mode == "t" and "_MKCTX(_JM(data), received_at, " .. channel .. ", topic)"
    or "_MKCTX(data, received_at, " .. channel .. ", topic)"
  return g.opts.with_names and ("_WCTX_" .. mode .. "(" .. c .. ")") or c
end

local hook_ref

-- Generates router + converters + element function for one mode ("t" tape, "l" Lua tables).
-- direct: records are written as NDJSON lines (codegen_out): a converter returns its channel.
local function gen_mode(g, conn, name, mode, channels, events, direct)
  local tapemode = mode == "t"
  g.opts.tape = tapemode
  g.opts.ctx = ctx_code(g, mode, "channel")
  local conv_fn = {}
  for _, ch in ipairs(channels) do
    local rules = (conn.converters or {})[ch]
    if rules then
      local fname = "_C_" .. ch .. "_" .. mode
      conv_fn[ch] = fname
      local base = "converters." .. ch
      g:emit("local function " .. fname .. "(data, received_at)", base)
      g:emit("local channel = " .. g:const(ch), base)
      for i, rule in ipairs(rules) do
        local rp = base .. "[" .. i .. "]"
        local cond = "true"
        if type(rule.condition) == "function" then
          cond = g:call_fn(rule.condition, rp .. ".condition")
        elseif rule.condition ~= nil then
          cond = g:expression(rule.condition, rp .. ".condition") or "false"
        end
        g:emit("if " .. cond .. " then", rp .. ".condition")
        local fixed = { "channel = " .. g:const(ch), "connection = " .. g:const(name) }
        if rule.custom ~= nil then
          g:emit("local r = " .. g:call_ref(rule.custom, rp .. ".custom"), rp .. ".custom")
          g:emit("if r == nil then return nil end", rp .. ".custom")
          g:emit("r.channel = channel; r.connection = connection_name", rp .. ".custom")
          g:emit(direct and "_OL(r) return channel" or "return r", rp)
        elseif direct and codegen_out.supported(rule.fields or {}) then
          -- the record's line written as it is computed: no table
          codegen_out.emit(g, rule.fields or {}, rp .. ".fields", ch, name)
          g:emit("return channel", rp)
        else
          g:build("r", rule.fields or {}, rp .. ".fields", fixed)
          g:emit(direct and "_OL(r) return channel" or "return r", rp)
        end
        g:emit("end", rp)
      end
      g:emit("return nil", base)
      g:emit("end", base)
    end
  end
  -- router
  local rname = "_route_" .. mode
  local router = conn.router
  local use_router = router and router.enabled ~= false and router.rules
  local any_streams = {}
  for _, ch in ipairs(channels) do
    if conv_fn[ch] then
      any_streams[#any_streams + 1] = ch
    end
  end
  if not use_router and not events and #any_streams > 1 then
    -- no router, several channels: the first converter rule that holds, in `streams` order
    local body = { "local function _C_any_" .. mode .. "(data, received_at)" }
    for _, ch in ipairs(any_streams) do
      body[#body + 1] = "local r = " .. conv_fn[ch] .. "(data, received_at) if r then return r end"
    end
    body[#body + 1] = "return nil end"
    g:emit(table.concat(body, "\n"), "converters")
  end
  g:emit("local function " .. rname .. "(data, received_at)", "router")
  local function target(ch)
    return g:const(ch) .. ", " .. (conv_fn[ch] or "nil")
  end
  if use_router then
    g:emit("local channel = nil", "router")
    for i, rule in ipairs(router.rules) do
      local rp = "router.rules[" .. i .. "].match"
      local m
      if type(rule.match) == "function" then
        m = g:call_fn(rule.match, rp)
      else
        m = g:expression(rule.match, rp) or "false"
      end
      g:emit("if " .. m .. " then return " .. target(rule.channel) .. " end", rp)
    end
    g:emit("return " .. target(router.default_channel or "unknown"), "router.default_channel")
  elseif events then
    -- Socket.IO without a router: each event to the channel whose event name it is
    for _, e in ipairs(events) do
      g:emit("if topic == " .. g:const(e[1]) .. " then return " .. target(e[2]) .. " end", "events." .. e[2])
    end
    g:emit("return " .. target((router and router.default_channel) or "unknown"), "router.default_channel")
  else
    if #any_streams <= 1 then
      local ch = any_streams[1] or (router and router.default_channel) or (conn.streams or {})[1] or "unknown"
      g:emit("return " .. target(ch), "router")
    else
      g:emit("return \"*\", _C_any_" .. mode, "router")
    end
  end
  g:emit("end", "router")
  -- element: routed, then converted; hooks.on_info sees what is routed to `info`
  g:emit("local function _EL_" .. mode .. "(data, received_at)\n"
    .. "local ch, cv = " .. rname .. "(data, received_at)", nil)
  local on_info = (conn.hooks or {}).on_info
  if on_info ~= nil then
    g:emit("if ch == \"info\" then " .. g:mark("hooks.on_info") .. hook_ref(g, on_info, "hooks.on_info")
      .. "(" .. ctx_code(g, mode, "ch") .. ") end", "hooks.on_info")
  end
  g:emit("if cv == nil then return _nochan(ch) end\n"
    .. "local r = cv(data, received_at)\n"
    .. "if r == nil then return _noconv(ch) end\n"
    .. "_emit(r)\nend", nil)
end

-- ack/reject check over a whole parsed frame, in one mode
local function gen_auth(g, conn, mode)
  local auth = conn.auth
  if not auth or (auth.ack == nil and auth.reject == nil) then
    return nil
  end
  local tapemode = mode == "t"
  g.opts.tape = tapemode
  g.opts.ctx = tapemode and "_MKCTX(_JM(data), nil, nil, topic)" or "_MKCTX(data, nil, nil, topic)"
  local saved = g.opts.tape_names
  g.opts.tape_names = nil -- the whole frame: no fan-out value is set yet
  local fname = "_AUTHCHECK_" .. mode
  g:emit("local function " .. fname .. "(data)", "auth")
  local function cond(v, path)
    if type(v) == "function" then
      return g:call_fn(v, path)
    end
    return g:expression(v, path) or "false"
  end
  if auth.ack ~= nil then
    g:emit("if " .. cond(auth.ack, "auth.ack") .. " then return _AUTH.ack() end", "auth.ack")
  end
  if auth.reject ~= nil then
    g:emit("if " .. cond(auth.reject, "auth.reject") .. " then return _AUTH.reject("
      .. (tapemode and "_JM(data)" or "data") .. ") end", "auth.reject")
  end
  g:emit("end", "auth")
  g.opts.tape_names = saved
  return fname
end

-- A hook or registry function: a function, a registry name, or { custom = name | function }.
hook_ref = function(g, ref, path)
  if type(ref) == "table" then
    ref = ref.custom
  end
  if type(ref) == "string" then
    local fn = g.opts.registry and g.opts.registry[ref]
    if type(fn) ~= "function" then
      g:error(path, "registry has no function '" .. ref .. "'")
      return "nil"
    end
    return g:const(fn)
  end
  return g:const(ref)
end

-- The general frame path (hooks, preprocess, decode, computed payload_path): one xpcall per
-- frame, and one per element.
-- f: { parser, format, hooks, decode, auth_t, auth_l, pp, pp_select, pp_t, plan, reply }
local function gen_frame(g, f)
  local parser, format, hooks, decode = f.parser, f.format, f.hooks, f.decode
  local auth_t, auth_l, pp, pp_select, pp_t = f.auth_t, f.auth_l, f.pp, f.pp_select, f.pp_t
  local split = tostring(f.plan ~= nil)
  if f.plan then
    fanout.gen_frame_split(g, f.plan, "t")
  end
  g:emit("local function _FRAME(p, len, received_at, kind)", nil)
  g:emit("local keep", nil) -- keeps a replacement string alive while p points into it
  if f.reply then
    g:emit("if len == " .. #f.reply .. " and _ffi_string(p, len) == " .. g:const(f.reply)
      .. " then _S.heartbeats = _S.heartbeats + 1 return end", "heartbeat.reply")
  end
  if hooks.on_message ~= nil then
    local h = hook_ref(g, hooks.on_message, "hooks.on_message")
    g:emit("do local m = _ffi_string(p, len)\n"
      .. g:mark("hooks.on_message") .. "local h = " .. h .. "({ message = m, broker = broker, credentials = credentials, connection_name = connection_name, received_at = received_at, topic = topic, event = topic, state = state })\n"
      .. "if h == false then _S.dropped = _S.dropped + 1 return end\n"
      .. "if type(h) == \"table\" then return _TABLE(h, received_at, " .. split .. ", p, len) end\n"
      .. "if type(h) == \"string\" then keep = h; p = _cast(h); len = #h end end", "hooks.on_message")
  end
  if parser.preprocess ~= nil then
    local pre = hook_ref(g, parser.preprocess, "parser.preprocess")
    g:emit("do " .. g:mark("parser.preprocess") .. "local s = " .. pre .. "(_ffi_string(p, len), _CTX0)\n"
      .. "if s == nil or s == false then _S.dropped = _S.dropped + 1 return end\n"
      .. "if type(s) == \"table\" then return _TABLE(s, received_at, " .. split .. ", p, len) end\n"
      .. "keep = s; p = _cast(s); len = #s end", "parser.preprocess")
  end
  local results = "return _RESULTS(res, err, received_at, p, len) end"
  if format == "binary" then
    if decode then
      g:emit("if kind == _BINARY then " .. g:mark("parser.decode") .. "local res, err = " .. decode
        .. "(_u8(p), len, _CTX0) " .. results, "parser.decode")
    end
  elseif format == "text" then
    if decode then
      g:emit("do " .. g:mark("parser.decode") .. "local res, err = " .. decode
        .. "(_ffi_string(p, len), _CTX0) " .. results, "parser.decode")
    else
      if auth_l then
        g:emit("if _AUTH.waiting then " .. auth_l .. "(_ffi_string(p, len)) end", "auth")
      end
      g:emit("do return _TABLE(_ffi_string(p, len), received_at, false, p, len) end", "parser")
    end
  elseif decode then
    g:emit("do " .. g:mark("parser.decode") .. "local res, err = " .. decode
      .. "(_ffi_string(p, len), _CTX0) " .. results, "parser.decode")
  end
  if format ~= "text" then
    -- JSON through the tape
    g:emit("local root, perr, poff = _P(p, len)\n"
      .. "if root == nil then return _parse_fail(perr, poff, p, len) end", "parser")
    if auth_t then
      g:emit("if _AUTH.waiting then local ok, e = xpcall(" .. auth_t .. ", _HANDLER, root) if not ok then _fail(e, p, len) end end", "auth")
    end
    g:emit("local data = root", "parser")
    if pp_t then
      if pp_select or type(pp) == "function" then
        if type(pp) == "function" then
          g:emit("do return _TABLE_NOPP(" .. pp_t .. ", received_at, " .. split .. ", p, len) end", "parser.payload_path")
        else
          g:emit("data = " .. pp_t, "parser.payload_path")
          g:emit("if data == nil then _S.empty = _S.empty + 1 return end", "parser.payload_path")
        end
      else
        -- a computed payload: continue on Lua values (payload_path is applied here, not again)
        g:emit("do local v = " .. pp_t .. "\nif v == nil then _S.empty = _S.empty + 1 return end\n"
          .. "if type(v) ~= \"table\" then return _TABLE_NOPP(v, received_at, false, p, len) end\n"
          .. "return _TABLE_NOPP(v, received_at, " .. split .. ", p, len) end", "parser.payload_path")
      end
    end
    if f.plan then
      g:emit("do return _FAN_t(data, received_at, p, len) end", "frame")
    end
    g:emit([[
local ok, e = xpcall(_EL_t, _HANDLER, data, received_at)
if not ok then _fail(e, p, len) end]], nil)
  end
  g:emit("end", nil)

  g:emit([[
return function(batch, st)
  state = st
  local frames, buf = batch.frames, batch.buf
  local n = batch.n
  _S.frames = _S.frames + n
  for i = 0, n - 1 do
    local fr = frames[i]
    local p = buf + fr.off
    ]] .. g.topic_set_src .. [[

    local ok, e = xpcall(_FRAME, _HANDLER, p, fr.len, ]] .. g.received_at_src .. [[, fr.kind)
    if not ok then _fail(e, p, fr.len) end
    if _ABORTED() then _S.skipped = _S.skipped + (n - 1 - i) return end
  end
end]], nil)
end

-- Whether a spec value may read context name `word`: a string mentioning it, or any function.
local function uses(v, word, seen)
  if type(v) == "string" then
    return v:find(word, 1, true) ~= nil
  elseif type(v) == "function" then
    return true
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do
      if uses(k, word, seen) or uses(x, word, seen) then
        return true
      end
    end
  end
  return false
end

--- Socket.IO routing without a router: { {event name, channel}, ... } for the channels of
-- `conn` (`events[channel]`, default the channel's own name), or nil when the connection is not
-- a Socket.IO one or has a router of its own.
function M.event_routes(conn, channels)
  local router = conn.router
  if ((conn.backend or {}).type ~= "socketio" and conn.events == nil)
    or (router and router.enabled ~= false and router.rules) then
    return nil
  end
  local list = {}
  for _, ch in ipairs(channels or channel_list(conn)) do
    list[#list + 1] = { (conn.events or {})[ch] or ch, ch }
  end
  return list
end

--- Generates the source of connection `conn` named `name`; `direct`: converters write NDJSON
-- lines (feedhost.spec.codegen_out) and return their channel instead of a record.
-- @return { source, linemap, channels } or nil, errors (list of {path, msg})
function M.generate(conn, name, registry, direct)
  local watch = require("feedhost.sys.watch")
  local g = codegen.new({
    name = name,
    location = "data",
    registry = registry,
    params = "data, received_at, channel",
    watch_label = function(path) return watch.label(name .. ": " .. path) end,
  })
  local channels = channel_list(conn)
  local parser = conn.parser or {}
  local format = parser.format or "json"
  -- how a frame splits into elements (feedhost.spec.fanout); fan-out values are names of
  -- expressions, read through the tape like `data`
  local plan, ferrs = fanout.plan(conn.frame)
  if ferrs then
    return nil, ferrs
  end
  if plan and #plan.names > 0 then
    for _, n in ipairs(plan.names) do
      for _, r in ipairs(g.registry_names) do
        if r == n then
          return nil, { { path = "frame.with." .. n, msg = "'" .. n .. "' is a registry function's"
            .. " name: choose another" } }
        end
      end
    end
    g.opts.with_names = plan.names
    g.opts.tape_names = { "data", unpack(plan.names) }
    for _, n in ipairs(plan.names) do
      g.allowed[n] = true
    end
  end

  local events = M.event_routes(conn, channels)
  -- the receive time is boxed as an int64 per frame, the topic is a string: each is read only
  -- when something may use it (written into the frame loops as they are generated: a pass over
  -- the generated lines would rewrite the spec's own text too)
  g.received_at_src = uses(conn, "received_at", {}) and "fr.ts" or "nil"
  g.topic_set_src = (events ~= nil or uses(conn, "topic", {}) or uses(conn, "event", {}))
    and "topic = fr.meta > 0 and _ffi_string(p - fr.meta, fr.meta) or nil event = topic" or ""
  gen_mode(g, conn, name, "t", channels, events, direct)
  gen_mode(g, conn, name, "l", channels, events, direct)
  local auth_t = gen_auth(g, conn, "t")
  local auth_l = gen_auth(g, conn, "l")

  -- payload_path, both modes
  local pp = parser.payload_path
  local pp_select = type(pp) == "string" and expr.is_selection(pp)
  local pp_t, pp_l
  if pp ~= nil then
    if type(pp) == "function" then
      g.opts.ctx = "_MKCTX(_JM(data), received_at, nil, topic)"
      pp_t = g:call_fn(pp, "parser.payload_path")
      g.opts.ctx = "_MKCTX(data, received_at, nil, topic)"
      pp_l = g:call_fn(pp, "parser.payload_path")
    else
      g.opts.tape = true
      pp_t = g:expression(pp, "parser.payload_path", pp_select) or "nil"
      g.opts.tape = false
      pp_l = g:expression(pp, "parser.payload_path") or "nil"
    end
  end

  -- Lua-table path: split, element (_TABLE_NOPP); payload_path first (_TABLE). `split`: the
  -- frame's plan applies (a decoded list is a list of elements even without one: the fan-out of
  -- frame = "array" splits it)
  fanout.gen_frame_split(g, plan or fanout.plan("array"), "l")
  g:emit("local function _TABLE_NOPP(data, received_at, split, p, len)\n"
    .. "if split then return _FAN_l(data, received_at, p, len) end\n"
    .. "return _ONE_l(data, received_at, p, len)\nend", nil)
  g:emit("local function _TABLE(data, received_at, split, p, len)", "parser")
  if pp_l then
    g:emit("data = " .. pp_l, "parser.payload_path")
    g:emit("if data == nil then _S.empty = _S.empty + 1 return end", "parser.payload_path")
  end
  g:emit("return _TABLE_NOPP(data, received_at, split, p, len)\nend", "parser")
  -- results of a decode function: nil (nothing), nil + err, one message, or a list
  g:emit([[
local function _RESULTS(res, err, received_at, p, len)
  if res == nil then
    if err ~= nil then error({ kind = "decode", msg = tostring(err) }, 0) end
    _S.empty = _S.empty + 1
    return
  end
  if type(res) == "table" and next(res) == nil then _S.empty = _S.empty + 1 return end
  return _TABLE(res, received_at, type(res) == "table" and (res[1] ~= nil or ]]
    .. tostring(plan ~= nil) .. [[), p, len)
end]], "parser.decode")

  local hooks = conn.hooks or {}
  local decode = parser.decode ~= nil and hook_ref(g, parser.decode, "parser.decode") or nil
  -- JSON frames through nothing but the tape (a payload_path that selects a member at most):
  -- the whole batch is one loop under one xpcall, which resumes after a failing element
  local fast = format == "json" and hooks.on_message == nil and parser.preprocess == nil
    and decode == nil and (pp == nil or pp_select)
  local reply = (conn.heartbeat or {}).reply
  if fast then
    fanout.gen_batch_loop(g, plan, { auth_t = auth_t, pp_t = pp_t, reply = reply })
  else
    gen_frame(g, { parser = parser, format = format, hooks = hooks, decode = decode, auth_t = auth_t,
      auth_l = auth_l, pp = pp, pp_select = pp_select, pp_t = pp_t, plan = plan, reply = reply })
  end

  if #g.errors > 0 then
    local seen, errs = {}, {}
    for _, e in ipairs(g.errors) do
      local k = e.path .. "\0" .. e.msg
      if not seen[k] then
        seen[k] = true
        errs[#errs + 1] = e
      end
    end
    return nil, errs
  end

  local source, linemap = g:source(HEADER .. fanout.header(plan))
  return { source = source, linemap = linemap, channels = channels, consts = g.consts }
end

return M
