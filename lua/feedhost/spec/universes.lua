--- feedhost.spec.universes: the asset universes of a spec, compiled.
--
-- `master_data` is the default universe; `universes = { <name> = <master data table> }` adds
-- named ones, and a connection with `universe = "<name>"` resolves symbols (broker.infer_asset,
-- --assets, its subscriptions) in that one only, so the same symbol on two markets (Binance
-- spot and futures, Bybit spot and linear) is the right instrument on each connection. Without
-- master data the default universe is open (assets are made by symbol on first use).
--
-- Here the spec's expressions in master data are compiled: `filter` (names: row, source,
-- universe, broker, credentials and the helpers), `path` when it is not a key path (name: doc)
-- and `fields` values given as { source = "expr" } (name: row).
--
--   local U, errs = universes.build(spec, env)
--   U.default, U.by_name[name], U.of(connection_spec) -> universe
--   U.resolve(symbols, names)  -> assets (each symbol known to one of the universes the
--                                 connections `names` use), or raises SymbolNotFound
--   universes.assets_of(u, list) -> the assets of `list` (Assets or symbols) that universe `u`
--                                 knows, as its own Assets (the list itself for the default)
local universe_mod = require("feedhost.data.universe")
local master_sources = require("feedhost.data.master_sources")
local asset = require("feedhost.data.asset")
local expr = require("feedhost.spec.expr")

local M = {}

-- An expression of `src` (checked at `location`) as a function of the names `params`, run in
-- `env`. @return function, or nil, message
local function compile_expr(src, location, params, path, env)
  local ok, err = expr.check(src, expr.allowed(location, {}))
  if not ok then
    return nil, err
  end
  local fn, lerr = load("local " .. params .. " = ...; return (" .. src .. "\n)", "=" .. path, "t", env)
  if not fn then
    return nil, tostring(lerr)
  end
  return fn
end

-- A copy of master data table `md` with its expressions compiled into functions; errors to errs.
local function compile_md(md, where, name, env, errs)
  local out = {}
  for k, v in pairs(md) do
    out[k] = v
  end
  local fenv = setmetatable({ broker = env.broker, credentials = env.credentials, universe = name },
    { __index = env.lambda_env })
  local function fail(path, msg)
    errs[#errs + 1] = { path = path, msg = msg }
  end
  if type(md.filter) == "string" then
    local f, err = compile_expr(md.filter, "master", "row, source", where .. ".filter", fenv)
    if f then out.filter = f else fail(where .. ".filter", err) end
  end
  local function compile_path(t, path)
    -- an expression of `doc` ("doc.result or doc.data"), or anything not a key path
    if type(t.path) == "string" and (t.path:match("^doc[%.%[]") or t.path == "doc"
        or not master_sources.key_path(t.path)) then
      local f, err = compile_expr(t.path, "master_path", "doc", path, fenv)
      if f then return f end
      fail(path, err .. " (a path is a key path like 'result.list', or an expression of doc)")
    end
    return t.path
  end
  out.path = compile_path(md, where .. ".path")
  if type(md.sources) == "table" then
    out.sources = {}
    for i, src in ipairs(md.sources) do
      local s = {}
      for k, v in pairs(type(src) == "table" and src or {}) do
        s[k] = v
      end
      s.path = compile_path(s, where .. ".sources[" .. i .. "].path")
      out.sources[i] = type(src) == "table" and s or src
    end
  end
  if type(md.fields) == "table" then
    out.fields = {}
    for f, v in pairs(md.fields) do
      if type(v) == "table" and type(v.source) == "string" then
        local fn, err = compile_expr(v.source, "master", "row", where .. ".fields." .. f, fenv)
        if fn then out.fields[f] = fn else fail(where .. ".fields." .. f .. ".source", err) end
      elseif type(v) == "table" and type(v.source) == "function" then
        out.fields[f] = v.source
      else
        out.fields[f] = v
      end
    end
  end
  return out
end

-- the key path at the start of a universe error message, and the rest
local function split_error(msg, where)
  local p, rest = msg:match("^(" .. where:gsub("%.", "%%.") .. "[%w_.%[%]\"]*): (.*)$")
  return { path = p or where, msg = rest or msg }
end

-- Builds one universe; errors to errs. @return universe or nil
local function build_one(md, where, name, env, errs)
  local n0 = #errs
  local compiled = md and compile_md(md, where, name, env, errs)
  if #errs > n0 then
    return nil
  end
  local ok, u = pcall(universe_mod.new, { master = compiled, base_dir = env.dir,
    registry = env.registry, ctx = { credentials = env.credentials, broker = env.broker },
    assets = not md and env.open_assets or nil, name = name, where = where, read = env.read })
  if not ok then
    local msg = tostring(type(u) == "table" and (u.msg or u) or u)
    errs[#errs + 1] = split_error(msg, where)
    return nil
  end
  if #u.duplicates > 0 and env.log and md.duplicates ~= "ignore" then
    local lines = u:duplicate_lines(5)
    env.log:warning("%s: %d row%s with a symbol, broker_symbol or security_id another row has"
      .. " (set %s.duplicates = 'ignore' to accept, 'error' to refuse): %s", where,
      u.stats.duplicates, u.stats.duplicates == 1 and "" or "s", where, table.concat(lines, "; "))
  end
  u.source = md and M.describe_source(md) or "open (no master data)"
  return u
end

--- A short description of where a master data table's rows come from, for `check`.
function M.describe_source(md)
  local function one(s)
    if type(s.file) == "table" then
      return table.concat(s.file, " + ")
    elseif s.file then
      return s.file
    elseif s.rows then
      return "inline rows"
    elseif s.custom then
      return "loader " .. (type(s.custom) == "string" and s.custom or "(function)")
    end
    return "?"
  end
  if type(md.sources) == "table" then
    local parts = {}
    for i, s in ipairs(md.sources) do
      parts[i] = type(s) == "table" and one(s) or "?"
    end
    return table.concat(parts, " + ")
  end
  return one(md)
end

--- Builds every universe of `spec`. env: { dir, registry, credentials, broker, lambda_env, read,
-- log, open_assets }. @return U (see the module header), errors (a list, maybe empty)
function M.build(spec, env)
  local errs = {}
  local U = { by_name = {} }
  U.default = build_one(spec.master_data, "master_data", "default", env, errs)
  U.by_name.default = U.default
  local names = {}
  for name in pairs(spec.universes or {}) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    U.by_name[name] = build_one(spec.universes[name], "universes." .. name, name, env, errs)
  end
  function U.of(conn)
    return U.by_name[conn.universe or "default"]
  end
  -- the universes the connections `cnames` use, default first
  local function used(cnames)
    local list, seen = {}, {}
    for _, cname in ipairs(cnames) do
      local u = U.of(spec.streaming.connections[cname])
      if u and not seen[u] then
        seen[u] = true
        list[#list + 1] = u
      end
    end
    return list
  end
  function U.resolve(symbols, cnames)
    local list = used(cnames)
    if #list == 1 then
      return list[1]:resolve(symbols)
    end
    local out, missing = {}, {}
    for _, s in ipairs(symbols) do
      local a, key = nil, s
      if type(s) == "table" then
        key = s.symbol
      end
      for _, u in ipairs(list) do
        local ok, found = pcall(u.resolve, u, { key })
        if ok and found[1] then
          a = a or found[1]
        end
      end
      if a then
        out[#out + 1] = a
      elseif type(key) == "string" and key:match("%S") then
        missing[#missing + 1] = key
      end
    end
    if #missing > 0 then
      local shown = {}
      for i, s in ipairs(missing) do
        shown[i] = "'" .. s .. "'"
      end
      error(asset.symbol_not_found("no asset with symbol " .. table.concat(shown, ", ")
        .. " in any universe (" .. table.concat(names, ", ") .. (#names > 0 and ", " or "")
        .. "master_data)", "symbol", missing), 0)
    end
    return out
  end
  return U, errs
end

--- The assets of `list` universe `u` knows, as its own Assets, in order (an open universe makes
-- them). The list itself when they are already u's.
function M.assets_of(u, list)
  local mine = true
  for _, a in ipairs(list) do
    if type(a) ~= "table" or u:get(a.symbol) ~= a then
      mine = false
      break
    end
  end
  if mine then
    return list
  end
  local out = {}
  for _, a in ipairs(list) do
    local sym = asset.symbol_of(a)
    local ok, found = pcall(u.resolve, u, { sym })
    if ok and found[1] then
      out[#out + 1] = found[1]
    end
  end
  return out
end

return M
