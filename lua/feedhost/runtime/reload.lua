--- feedhost.runtime.reload: hot reload of a live host's spec (compile beside, validate, swap).
--
-- The spec is loaded, validated and compiled afresh beside the running one, with its registry
-- modules, mappings, master data and credentials (feedhost.spec loads registry modules anew each
-- time, never through package.loaded). Any error leaves the running spec as it was and is logged
-- with the file and the key path. Then, connection by connection, what each part of its
-- definition IS is compared, never a closure's identity: a canonical serialization of the spec's
-- tables (functions by their bytecode), and of what they render now: the URL, what the handshake
-- carries (headers, auth frames, the Socket.IO CONNECT payload, the MQTT login), the setup frames,
-- the subscribe and unsubscribe frames for the current assets (a part that renders differently
-- each time, such as a signed nonce, is judged by its definition):
--   url, backend (or max_frame_bytes), auth or setup    the connection reconnects at once
--   subscribe messages (or streams) changed             on the live connection, the old
--                                                       unsubscribe frames, then the new subscribe
--                                                       frames, paced as ever (topics in both are
--                                                       left alone: transport.topic_changes)
--   a connection new in the spec                        opens
--   a connection gone from the spec                     closes
-- Every kept connection gets the new compiled pipeline (parser, router, converters, hooks, with
-- the new mappings, master data and registry functions) between two batches: each frame goes
-- through exactly one pipeline, none is lost, and the statistics carry on. This works on the
-- runtime's definitions and its connections' lifecycle calls only (runtime.connection), so it
-- does not depend on the transport. One log line tells what changed, what was done, and how long
-- it took.
--
--   reload.run(host, why)    -> true, summary | nil, message   (host:reload() calls it)
--   reload.watch(host)       watches the files the spec loaded (inotify through the loop's
--                            "fswatch" transport); a burst of changes (editors write, rename,
--                            touch) is one reload, 100 ms after the last event
--   reload.unwatch(host)
local ffi = require("ffi")
local clock = require("feedhost.sys.clock")
local runtime = require("feedhost.runtime")
local symbol_of = require("feedhost.data.asset").symbol_of

local M = {}

M.DEBOUNCE = 0.1   -- seconds of quiet after a file event before reloading

-- ---- what a part of a connection is -------------------------------------------------------------
local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    return ta < tb
  end
  if ta == "number" or ta == "string" then
    return a < b
  end
  return tostring(a) < tostring(b)
end

local function canon_into(v, out, seen)
  local t = type(v)
  if t == "table" then
    if seen[v] then
      out[#out + 1] = "<cycle>"
      return
    end
    seen[v] = true
    local keys = {}
    for k in pairs(v) do
      keys[#keys + 1] = k
    end
    table.sort(keys, key_order)
    out[#out + 1] = "{"
    for _, k in ipairs(keys) do
      canon_into(k, out, seen)
      out[#out + 1] = "="
      canon_into(v[k], out, seen)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
    seen[v] = nil
  elseif t == "function" then
    local ok, code = pcall(string.dump, v, true)   -- the code, not the closure's identity
    out[#out + 1] = "fn:" .. (ok and code or tostring(v))
  elseif t == "string" then
    out[#out + 1] = string.format("%q", v)
  elseif t == "number" then
    out[#out + 1] = string.format("%.17g", v)
  else
    out[#out + 1] = t .. ":" .. tostring(v)   -- boolean, nil, int64 cdata (its value)
  end
end

--- A canonical serialization of a value: equal for equal data (keys sorted, functions by their
-- stripped bytecode), whatever the tables' identities.
function M.canon(v)
  local out = {}
  canon_into(v, out, {})
  return table.concat(out)
end
local canon = M.canon

-- A render's result as text; an error is a result too.
local function rendered(f)
  local ok, v = pcall(f)
  return canon({ ok, ok and v or tostring(v) })
end

-- Whether a part changed: its definition, else (when it renders the same twice running) what it
-- renders now.
local function part_changed(old, new)
  if old.def ~= new.def then
    return true
  end
  if not old.render then
    return false
  end
  local a = rendered(old.render)
  if a ~= rendered(old.render) then
    return false   -- a nonce, a timestamp: the definitions decide
  end
  return a ~= rendered(new.render)
end

local PIPELINE_KEYS = { "frame", "parser", "router", "converters", "hooks", "events" }
local SETTING_KEYS = { "heartbeat", "reconnect", "limits" }

-- The parts of compiled connection `c` (spec.compile), its URL override and assets.
local function parts(c, credentials, override, assets)
  local spec = c.spec
  local limits = spec.limits or {}
  local p = {
    url = { def = canon({ spec.url, override }), render = function() return c.url(override) end },
    backend = { def = canon({ spec.backend or {}, limits.max_frame_bytes }) },
    -- what the handshake carries: headers, auth frames, the Socket.IO CONNECT payload, the MQTT
    -- login
    auth = { def = canon({ spec.auth or {}, credentials }), render = function()
      return { c.headers(), c.auth_frames(), c.connect_payload(), c.login and c.login() }
    end },
    setup = { def = canon(spec.setup), render = function() return c.setup_frames() end },
    subscribe = { def = canon({ spec.subscribe or {}, spec.streams or {} }),
      render = function()   -- each connection's own assets, as its sockets subscribe them
        local own = c.assets_of(assets)
        return { c.subscribe(own), c.unsubscribe(own) }
      end },
  }
  for _, k in ipairs(PIPELINE_KEYS) do
    p[k] = { def = canon(spec[k]) }
  end
  for _, k in ipairs(SETTING_KEYS) do
    p[k] = { def = canon(spec[k]) }
  end
  return p
end

local RECONNECT = { "url", "backend", "auth", "setup" }   -- what a session starts with
local RECONNECTS = {}
for _, k in ipairs(RECONNECT) do
  RECONNECTS[k] = true
end

-- What changed in connection `name` and what to do about it.
local function classify(old_c, new_c, old_env, new_env)
  local a = parts(old_c, old_env.credentials, old_env.override, old_env.assets)
  local b = parts(new_c, new_env.credentials, new_env.override, new_env.assets)
  local changed = {}
  for _, group in ipairs({ RECONNECT, { "subscribe" }, PIPELINE_KEYS, SETTING_KEYS }) do
    for _, k in ipairs(group) do
      if part_changed(a[k], b[k]) then
        changed[#changed + 1] = k
      end
    end
  end
  local action = "pipeline swapped"
  for _, k in ipairs(changed) do
    if RECONNECTS[k] then
      return changed, "reconnecting"
    elseif k == "subscribe" then
      action = "resubscribing"
    end
  end
  return changed, action
end

-- ---- the swap ---------------------------------------------------------------------------------------
-- The new pipeline's counters start where the old one's are.
local function carry_stats(old, new)
  for k, v in pairs(old) do
    if type(v) == "number" then
      new[k] = (new[k] or 0) + v
    elseif type(v) == "table" and type(new[k]) == "table" then
      for kk, vv in pairs(v) do
        new[k][kk] = (new[k][kk] or 0) + vv
      end
    end
  end
end

local function names_of(host, compiled)
  if host.connections then
    for _, name in ipairs(host.connections) do
      if not compiled.connections[name] then
        return nil, string.format("the spec has no connection '%s' any more (run with --connection)", name)
      end
    end
    return host.connections
  end
  return compiled.order
end

local function symbols_of(list)
  local out = {}
  for i, a in ipairs(list) do
    out[i] = symbol_of(a)
  end
  return out
end

-- Everything the new spec needs before anything changes: its assets, its definitions.
-- @return plan, or nil, message
local function prepare(host, compiled)
  local rt = host.rt
  -- across the spec's universes, as host:subscribe resolves them
  local ok, assets = pcall(compiled.resolve, symbols_of(host.symbols))
  if not ok then
    return nil, "assets: " .. tostring(type(assets) == "table" and assets.msg or assets)
  end
  local names, nerr = names_of(host, compiled)
  if not names then
    return nil, nerr
  end
  local proxy = setmetatable({ compiled = compiled }, { __index = rt })
  local plan = { assets = assets, defs = {}, names = names }
  for _, name in ipairs(names) do
    local dok, def = pcall(runtime.definition, proxy, name)
    if not dok then
      return nil, tostring(def)
    end
    plan.defs[name] = def
  end
  return plan
end

local function def_named(rt, name)
  for i, def in ipairs(rt.defs) do
    if def.name == name then
      return def, i
    end
  end
end

-- Applies `plan` (prepare) for `compiled`: the runtime's definitions and connections change.
-- @return one text per connection: "name: what changed, what is done"
local function apply(host, compiled, plan)
  local rt = host.rt
  local old_compiled, old_assets = rt.compiled, rt.assets
  local report, actions, unsub = {}, {}, {}
  local shared = {}   -- what every connection's pipeline uses
  for _, k in ipairs({ "mappings", "registry", "master_data" }) do
    if canon(old_compiled.spec[k]) ~= canon(compiled.spec[k]) then
      shared[#shared + 1] = k
    end
  end
  if #shared > 0 then
    report[1] = table.concat(shared, ", ") .. " changed"
  end
  for _, name in ipairs(plan.names) do
    local old = def_named(rt, name)
    if old then
      local changed, action = classify(old.c, plan.defs[name].c,
        { credentials = old_compiled.credentials, override = rt.urls[name], assets = old_assets },
        { credentials = compiled.credentials, override = rt.urls[name], assets = plan.assets })
      actions[name] = action
      if action == "resubscribing" then
        for _, s in ipairs(old.sockets) do   -- the old messages for what each one subscribed,
          -- with what its hooks learnt (the channel ids a Bitfinex unsubscribe names)
          local ok, frames = pcall(old.c.unsubscribe, s.assets, nil, s.spec_state)
          local hok, held = pcall(old.c.subscribe, s.assets, nil, s.spec_state)
          unsub[s] = { ok and frames or {}, hok and held or {} }
        end
      end
      report[#report + 1] = string.format("%s: %s, %s", name,
        #changed > 0 and (table.concat(changed, ", ") .. " changed") or "unchanged", action)
    else
      report[#report + 1] = name .. ": new, opening"
    end
  end
  for i = #rt.defs, 1, -1 do
    local def = rt.defs[i]
    if not plan.defs[def.name] then
      for _, s in ipairs(def.sockets) do
        s:retire()
      end
      table.remove(rt.defs, i)
      report[#report + 1] = def.name .. ": gone from the spec, closing"
    end
  end
  -- the swap: same definition tables (the connections hold them), new contents
  rt.compiled = compiled
  for _, name in ipairs(plan.names) do
    local new, old = plan.defs[name], def_named(rt, name)
    if old then
      carry_stats(old.pipeline.stats, new.pipeline.stats)
      local sockets, log = old.sockets, old.log
      for k in pairs(old) do
        old[k] = nil
      end
      for k, v in pairs(new) do
        old[k] = v
      end
      old.sockets, old.log = sockets, log
      for _, s in ipairs(sockets) do
        s.pipeline = old.pipeline
      end
    else
      rt.defs[#rt.defs + 1] = new
    end
  end
  rt:set_assets(plan.assets)   -- new definitions get their connections; every asset re-resolved
  for _, name in ipairs(plan.names) do
    local def = def_named(rt, name)
    for _, s in ipairs(def.sockets) do
      if actions[name] == "reconnecting" then
        s:restart()
      elseif unsub[s] then
        s:resubscribe(unsub[s][1], unsub[s][2])
      end
    end
  end
  return report
end

-- ---- the files a spec loaded ----------------------------------------------------------------------
-- The master data file of a loaded spec, as feedhost.data.master opens it.
local function master_file(loaded)
  local md = loaded and loaded.spec.master_data
  local file = type(md) == "table" and md.file
  if type(file) ~= "string" or file == "" then
    return nil
  end
  if file:sub(1, 1) == "/" or not loaded.dir or loaded.dir == "" then
    return file
  end
  return loaded.dir .. (loaded.dir:sub(-1) == "/" and "" or "/") .. file
end

-- "specs/../registry/x.lua" -> "registry/x.lua" (how the sandbox finds registry modules)
local function tidy(path)
  local out = {}
  for seg in path:gmatch("[^/]+") do
    if seg == ".." and #out > 0 and out[#out] ~= ".." then
      out[#out] = nil
    elseif seg ~= "." then
      out[#out + 1] = seg
    end
  end
  return (path:sub(1, 1) == "/" and "/" or "") .. table.concat(out, "/")
end

local function watched_files(host)
  local set, list = {}, {}
  local function add(p)
    p = p and tidy(p)
    if p and not set[p] then
      set[p] = true
      list[#list + 1] = p
    end
  end
  for _, group in ipairs({ host.files or {}, host.attempt_files or {} }) do
    for _, p in ipairs(group) do
      add(p)
    end
  end
  add(master_file(host.loaded))
  if #list > 0 then
    add(host.file)   -- even once it cannot be read: its return is the change to see
  end
  table.sort(list)
  return list
end

-- ---- reload ---------------------------------------------------------------------------------------
local function ms_since(t0)
  return (clock.mono() - t0) * 1000
end

--- Reloads `host`'s spec (see the module's header); `why` says what asked for it (the log's).
-- @return true, { ms, swap_ms, connections = {lines} }; or nil, message (the running spec stays)
function M.run(host, why)
  local t0 = clock.mono()
  local log = host.log
  local stats = host.reload_stats
  local files = {}
  local ok, loaded, compiled = pcall(host.recompile, files)
  host.attempt_files = files
  local plan, perr
  if ok and loaded then
    plan, perr = prepare(host, compiled)
    perr = perr and (host.file .. ": " .. perr)
  else
    perr = ok and compiled or (host.file .. ": " .. tostring(loaded))
  end
  if not plan then
    stats.failed = stats.failed + 1
    for line in tostring(perr):gmatch("[^\n]+") do
      if not line:find("^feedhost: .*: %d+ errors?$") then   -- the count: in the last line
        log:error("reload (%s): %s", why, line)
      end
    end
    log:error("reload (%s) failed after %.1f ms: still running the spec loaded before", why, ms_since(t0))
    M.watch(host)
    return nil, perr
  end
  local t_swap = clock.mono()
  local report = apply(host, compiled, plan)
  host.compiled, host.loaded, host.files = compiled, loaded, files
  host.symbols = plan.assets
  local swap_ms, total_ms = ms_since(t_swap), ms_since(t0)
  stats.ok = stats.ok + 1
  stats.last_ms, stats.last_swap_ms = total_ms, swap_ms
  log:info("reload (%s): %s (%.1f ms, swap %.2f ms)", why, table.concat(report, "; "), total_ms, swap_ms)
  M.watch(host)
  host.R:arm()
  return true, { ms = total_ms, swap_ms = swap_ms, connections = report }
end

-- ---- watching -------------------------------------------------------------------------------------
local Watch = {}
Watch.__index = Watch

function Watch:on_frames(_, batch)
  local b = batch
  for i = 0, tonumber(b.n) - 1 do
    local f = b.frames[i]
    local path = ffi.string(b.buf + f.off, f.len)
    self.changed[path ~= "" and path or "(files)"] = true
  end
  if self.timer then
    self.timer:cancel()
  end
  self.timer = self.host.R:after(M.DEBOUNCE, function()
    self.timer = nil
    local names = {}
    for p in pairs(self.changed) do
      names[#names + 1] = p
    end
    table.sort(names)
    self.changed = {}
    self.host.reload_pending = table.concat(names, ", ") .. " changed"
  end)
end

function Watch:on_close()
  if self.host.watcher == self then
    self.host.watcher = nil
  end
end
Watch.on_error = Watch.on_close

--- Stops watching the host's files.
function M.unwatch(host)
  local w = host.watcher
  host.watcher = nil
  if w then
    if w.timer then
      w.timer:cancel()
    end
    host.R:close(w.id)
  end
end

--- Watches the files `host`'s spec loaded (again when the set changed since the last call).
function M.watch(host)
  if not host.watch or host.closed then
    return
  end
  local files = watched_files(host)
  local key = table.concat(files, "\n")
  if host.watcher and host.watcher.key == key then
    return
  end
  M.unwatch(host)
  if #files == 0 then
    return
  end
  local w = setmetatable({ host = host, key = key, changed = {} }, Watch)
  local id, err = host.R:open("fswatch", { paths = key }, w)
  if not id then
    host.log:warning("cannot watch the spec's files (%s): reload with SIGHUP or host:reload()", err)
    return
  end
  w.id = id
  host.watcher = w
  host.log:debug("watching %s", table.concat(files, ", "))
end

return M
