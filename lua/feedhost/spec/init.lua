--- feedhost.spec: loading, validating and compiling a spec file.
--
-- `load` runs the spec file (its registry modules loaded afresh each time, never through
-- package.loaded, so a reload sees edited registry code) and validates it; `compile` resolves
-- credentials, builds the asset universe and compiles every connection: its pipeline, its URL
-- and handshake headers, and its outbound messages. Every error of every stage is collected and
-- reported together, each with the file and key path.
local schema = require("feedhost.spec.schema")
local universes = require("feedhost.spec.universes")
local mappings_mod = require("feedhost.data.mappings")
local messages = require("feedhost.spec.messages")
local pipeline = require("feedhost.spec.pipeline")
local helpers_mod = require("feedhost.spec.helpers")
local expr = require("feedhost.spec.expr")
local sandbox = require("feedhost.spec.sandbox")

local M = {}

local LOAD_BUDGET = 5   -- seconds a spec file (and the registry modules it requires) may take

local function read_file(path)
  local f = io.open(path, "rb")
  if f then
    local s = f:read("*a")
    f:close()
    return s
  end
  local s = require("feedhost.sys.ffi").resource((path:gsub("^%./", "")))
  if s then
    return s, true
  end
  return nil
end
M.read_file = read_file

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function err_list_to_string(errs, file)
  local lines = {}
  for _, e in ipairs(errs) do
    lines[#lines + 1] = file .. ": " .. e.path .. ": " .. e.msg
  end
  return table.concat(lines, "\n")
end
M.format_errors = err_list_to_string

--- Loads and validates spec file `path`. The spec runs confined (feedhost.spec.sandbox) unless
-- opts.trusted. opts.files: a list that gets the path of every file read from the file system
-- (the spec, the registry modules it requires, what it reads with read_file), even when loading
-- fails: what hot reload watches.
-- @return { file, dir, spec } or nil, errors (list of {path, msg}), file
function M.load(path, opts)
  local files = opts and opts.files
  local reader = not files and read_file or function(p)
    local text, embedded = read_file(p)
    if text and not embedded then
      files[#files + 1] = p
    end
    return text, embedded
  end
  local src, embedded = reader(path)
  if not src then
    return nil, { { path = "(file)", msg = "cannot read spec file" } }, path
  end
  local dir = dirname(path)
  local fn, err = loadstring(src, "@" .. path)
  if not fn then
    return nil, { { path = "(syntax)", msg = tostring(err) } }, path
  end
  setfenv(fn, sandbox.env({ dir = dir, read_file = reader, trusted = opts and opts.trusted }))
  -- a spec file that never finishes loading is stopped by the watchdog
  local watch = require("feedhost.sys.watch")
  local w = watch.new(nil, LOAD_BUDGET)
  watch.at(watch.label("loading " .. path))
  watch.enter(w)
  local ok, spec = pcall(fn)
  if not ok and watch.is_budget(spec) then
    watch.taken()
    spec = "did not finish loading within " .. LOAD_BUDGET .. "s (a loop that never ends?)"
  end
  watch.leave(w)
  if not ok then
    return nil, { { path = "(load)", msg = tostring(spec) } }, path
  end
  local errs = schema.validate(spec, path)
  if #errs > 0 then
    -- also report the expression errors the compiler would find, so every mistake shows at once
    local ok, _, cerrs = pcall(M.compile, { file = path, dir = dir, spec = spec }, {})
    if ok and cerrs then
      local seen = {}
      for _, e in ipairs(errs) do
        seen[e.path .. "\0" .. e.msg] = true
      end
      for _, e in ipairs(cerrs) do
        if not seen[e.path .. "\0" .. e.msg] then
          errs[#errs + 1] = e
        end
      end
      table.sort(errs, function(a, b) return a.path < b.path end)
    end
    return nil, errs, path
  end
  return { file = path, dir = dir, spec = spec, embedded = embedded }
end

-- Appends the frames of every compiled message of `fns` rendered with `ctx` to `out`, labelled
-- with the channel and the entry (the channel's own, or `all`) they were sent for.
local function render_all(fns, ctx, out, channel, entry, request)
  for _, f in ipairs(fns) do
    for _, fr in ipairs(f(ctx)) do
      fr.channel, fr.entry, fr.request = channel, entry, request
      out[#out + 1] = fr
    end
  end
  return out
end

local function prefix_errors(errs, prefix, out)
  for _, e in ipairs(errs) do
    local sep = (prefix == "" or e.path:sub(1, 1) == "[") and "" or "."
    out[#out + 1] = { path = prefix .. sep .. e.path, msg = e.msg }
  end
end

--- Compiles a loaded spec.
-- opts: { credentials = table (already resolved), assets = {symbols}, emit = fn(rec),
--         log = logger, reader = tape reader (optional), out = an fh_out * (records written
--         there as NDJSON lines by the pipelines, instead of emit) }
-- @return compiled { name, spec, connections = {name -> conn}, order = {names}, universe,
--         mappings, helpers } or nil, errors
function M.compile(loaded, opts)
  opts = opts or {}
  local spec = loaded.spec
  local errs = {}
  local registry = spec.registry or {}
  local credentials = opts.credentials or {}

  local maps, merrs = mappings_mod.compile(spec.mappings or {}, "mappings")
  if not maps then
    for _, e in ipairs(merrs) do
      errs[#errs + 1] = { path = e.path, msg = e.msg }
    end
    maps = {}
  end

  -- the expression environment for string lambdas: stdlib + registry
  local lambda_env = sandbox.expr_env(registry, true)
  local helpers = helpers_mod.make(lambda_env)
  for _, k in ipairs(expr.HELPERS) do
    lambda_env[k] = helpers[k]
  end

  local log = opts.log
  -- the logger as spec code sees it: its four levels, none of its state (the secrets)
  local broker = { logger = {
    debug = function(...) if log then log:debug(...) end end,
    info = function(...) if log then log:info(...) end end,
    warning = function(...) if log then log:warning(...) end end,
    error = function(...) if log then log:error(...) end end,
  } }
  lambda_env.broker = broker
  lambda_env.mappings = maps

  -- assets: the default universe (master_data) and the named ones (feedhost.spec.universes)
  local U, uerrs = universes.build(spec, { dir = loaded.dir, registry = registry,
    credentials = credentials, broker = broker, lambda_env = lambda_env, log = log,
    open_assets = opts.open_assets })
  for _, e in ipairs(uerrs) do
    errs[#errs + 1] = e
  end
  local universe = U.default
  if universe then
    broker.infer_asset = universe:infer_fn()
  end

  local compiled = { name = spec.name, spec = spec, file = loaded.file, connections = {}, order = {},
    universe = universe, mappings = maps, helpers = helpers, broker = broker, credentials = credentials }

  local names = {}
  for name in pairs(spec.streaming.connections) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local conn = spec.streaming.connections[name]
    local base = "streaming.connections." .. name
    local c = { name = name, spec = conn, backend = (conn.backend or {}).type or "websocket" }
    -- the connection's universe: broker.infer_asset and its assets look up there
    local cu = U.of(conn) or universe
    local cbroker, chelpers = broker, helpers
    if cu ~= universe then
      cbroker = { logger = broker.logger, infer_asset = cu and cu:infer_fn() }
      chelpers = helpers_mod.make(setmetatable({ broker = cbroker }, { __index = lambda_env }))
    end
    c.universe, c.broker = cu, cbroker
    function c.assets_of(list)
      return cu and universes.assets_of(cu, list) or list
    end
    -- pipeline
    local p, perrs = pipeline.compile(conn, name, {
      registry = registry, broker = cbroker, credentials = credentials, mappings = maps,
      helpers = chelpers, emit = opts.emit, log = log, out = opts.out,
      reader = opts.reader,
    })
    if not p then
      prefix_errors(perrs, base, errs)
    else
      c.pipeline = p
    end
    -- url, headers, auth and subscribe messages: lambdas in them see the connection's universe
    local mopts = { registry = registry, helpers = chelpers }
    local auth = conn.auth or { mode = "none" }
    c.auth_mode = auth.mode
    local ctx_base = { credentials = credentials, broker = cbroker, connection_name = name, mappings = maps }
    c.ctx = ctx_base
    local query_fn, header_fn
    if auth.mode == "url" and auth.url and auth.url.query then
      local f, e = messages.compile_fields(auth.url.query.fields or {}, base .. ".auth.url.query.fields", mopts)
      if not f then prefix_errors(e, "", errs) else query_fn = f end
    end
    if auth.mode == "headers" and auth.headers then
      local f, e = messages.compile_fields(auth.headers.fields or {}, base .. ".auth.headers.fields", mopts)
      if not f then prefix_errors(e, "", errs) else header_fn = f end
    end
    if auth.mode == "first_message" and auth.first_message then
      local f, e = messages.compile(auth.first_message, base .. ".auth.first_message",
        { registry = registry, helpers = chelpers, location = "auth" })
      if not f then prefix_errors(e, "", errs) else c.first_message = f end
    end
    if auth.mode == "login" then   -- MQTT: user name and password of the CONNECT
      local f, e = messages.compile_fields({ username = auth.username, password = auth.password },
        base .. ".auth", mopts)
      if not f then
        prefix_errors(e, "", errs)
      else
        function c.login()
          local t = {}
          for _, kv in ipairs(f(ctx_base)) do
            t[kv[1]] = kv[2]
          end
          return t
        end
      end
    end
    -- one message or a list of messages at `path`: their compiled functions
    local function compile_list(entry, path, location)
      local list = entry
      if entry.format ~= nil or entry[1] == nil then
        list = { entry }
      end
      local fns = {}
      for i, m in ipairs(list) do
        local f, e = messages.compile(m, path .. (list ~= entry and "" or ("[" .. i .. "]")),
          { registry = registry, helpers = chelpers, location = location, backend = c.backend })
        if not f then prefix_errors(e, "", errs) else fns[#fns + 1] = f end
      end
      return fns
    end
    -- setup: messages sent once per connection after auth, before the subscriptions
    local setup_fns = conn.setup ~= nil and compile_list(conn.setup, base .. ".setup", "auth") or {}
    function c.setup_frames()
      return render_all(setup_fns, ctx_base, {})
    end
    local options = (conn.backend or {}).options or {}
    -- the connection's URL (or `base`, e.g. from --url) with the auth query appended
    function c.url(base)
      local url = base or conn.url
      if query_fn then
        url = messages.with_query(url, query_fn(ctx_base))
      end
      return url
    end
    function c.headers()
      local list = {}
      for k, v in pairs(options.headers or {}) do
        list[#list + 1] = { k, tostring(v) }
      end
      table.sort(list, function(a, b) return a[1] < b[1] end)
      if header_fn then
        for _, h in ipairs(header_fn(ctx_base)) do
          list[#list + 1] = h
        end
      end
      return list
    end
    -- Socket.IO: a first message without `event` is the namespace CONNECT payload, not a frame
    local connect_payload = c.backend == "socketio" and auth.first_message ~= nil
      and auth.first_message.event == nil
    function c.auth_frames()
      if c.first_message and not connect_payload then
        return c.first_message(ctx_base)
      end
      return {}
    end
    --- The Socket.IO CONNECT payload (a JSON object's text), or nil.
    function c.connect_payload()
      if c.first_message and connect_payload then
        local fr = c.first_message(ctx_base)[1]
        return fr and fr.text
      end
      return nil
    end
    -- subscribe / unsubscribe: per channel, else `all`; an entry may be a list of messages.
    -- c.subscribe(assets, channels, state) / c.unsubscribe(...): `state` is the connection's
    -- (what its hooks learnt: Bitfinex's channel ids), an empty one when not given
    for _, kind in ipairs({ "subscribe", "unsubscribe" }) do
      local entries = ((conn.subscribe or {})[kind]) or {}
      local compiled_entries = {}
      for key, entry in pairs(entries) do
        compiled_entries[key] = compile_list(entry, base .. ".subscribe." .. kind .. "." .. key, "subscribe")
      end
      c[kind] = function(subscribe_assets, channels, state)
        local frames, sent_all = {}, false
        state = state or {}
        local chans = channels or conn.streams or {}
        if #chans == 0 and compiled_entries.all then
          chans = { "all" }
        end
        for _, ch in ipairs(chans) do
          local fns = compiled_entries[ch]
          local key = ch
          if not fns then
            fns, key = compiled_entries.all, "all"
          end
          if fns and not (key == "all" and sent_all) then
            sent_all = sent_all or key == "all"
            local ctx = setmetatable({ subscribe_assets = subscribe_assets, channel = ch, state = state },
              { __index = ctx_base })
            render_all(fns, ctx, frames, ch, key, kind)
          end
        end
        return frames
      end
    end
    compiled.connections[name] = c
    compiled.order[#compiled.order + 1] = name
  end

  -- symbols known to one of the universes the connections use (an unknown one raises
  -- SymbolNotFound); --assets of a replay are checked here
  function compiled.resolve(symbols)
    return U.resolve(symbols, compiled.order)
  end
  if #errs == 0 and opts.open_assets and #opts.open_assets > 0 then
    local ok, e = pcall(compiled.resolve, opts.open_assets)
    if not ok then
      errs[#errs + 1] = { path = spec.universes and "universes" or "master_data",
        msg = tostring(type(e) == "table" and e.msg or e) }
    end
  end
  if #errs > 0 then
    table.sort(errs, function(a, b) return a.path < b.path end)
    return nil, errs
  end
  return compiled
end

return M
