--- feedhost.spec.sandbox: what spec code may reach.
--
-- A spec file, the functions and hooks it defines, and the registry modules it requires run in a
-- curated environment: the safe base library, read-only views of string, table, math, bit and
-- a few os time functions, `require` of modules beside the spec (and of `bit` and
-- `feedhost.bytes`), and `read_file(rel)` for files beside the spec. No io, os.execute, load of
-- strings, dofile, debug, ffi, jit, collectgarbage, getfenv/setfenv or arbitrary require; the
-- host's own tables cannot be changed from there (the libraries are read-only views, the string
-- metatable is out of reach). Expressions get the same read-only libraries. A spec that needs
-- more runs with `trusted = true` (CLI `--trusted-spec`): the full global environment, logged.
local M = {}

local DENIED = "is not available to spec code (spec code is confined; see the README's"
  .. " \"Spec code is confined\", or run a trusted spec with --trusted-spec)"

-- A read-only view of `t`: reads go through, writes raise, its metatable is hidden.
local function readonly(t, name)
  return setmetatable({}, {
    __index = t,
    __newindex = function(_, k)
      error(name .. " is read-only (cannot set " .. name .. "." .. tostring(k) .. ")", 2)
    end,
    __metatable = false,
  })
end
M.readonly = readonly

local OS = {}
for _, k in ipairs({ "time", "clock", "date", "difftime" }) do
  OS[k] = os[k]
end
setmetatable(OS, { __index = function(_, k)
  error("os." .. tostring(k) .. " " .. DENIED, 2)
end })

local LIBS = {
  string = readonly(string, "string"), table = readonly(table, "table"),
  math = readonly(math, "math"), bit = readonly(require("bit"), "bit"),
  os = readonly(OS, "os"),
}

-- getmetatable without the string metatable (whose __index is the real string table)
local function safe_getmetatable(v)
  if type(v) == "string" then
    return nil
  end
  return getmetatable(v)
end

local BASE = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  select = select, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
  xpcall = xpcall, rawequal = rawequal, rawget = rawget, setmetatable = setmetatable,
  getmetatable = safe_getmetatable, _VERSION = _VERSION,
}

local FORBIDDEN = { io = true, load = true, loadstring = true, loadfile = true, dofile = true,
  debug = true, ffi = true, jit = true, collectgarbage = true, getfenv = true, setfenv = true,
  rawset = true, module = true, package = true, newproxy = true, print = true }

--- The value a name of the safe standard library has for spec code (libraries read-only).
function M.lib(name)
  local v = LIBS[name]
  if v ~= nil then
    return v
  end
  return BASE[name]
end

--- A new table with the expressions' standard library (`feedhost.spec.expr` STDLIB, libraries
-- read-only) and the registry's functions (every registry value with `all`).
function M.expr_env(registry, all)
  local env = {}
  for _, k in ipairs(require("feedhost.spec.expr").STDLIB) do
    env[k] = M.lib(k)
  end
  for k, v in pairs(registry or {}) do
    if type(k) == "string" and (all or type(v) == "function") then
      env[k] = v
    end
  end
  return env
end

-- host modules spec code may require, as read-only views
local HOST_MODULES = { bit = function() return LIBS.bit end,
  ["feedhost.bytes"] = function() return readonly(require("feedhost.bytes"), "feedhost.bytes") end }

--- A path beside the spec: relative, no "..", no absolute path. @return path, or nil, message
function M.beside(dir, rel)
  if type(rel) ~= "string" or rel == "" then
    return nil, "expected a relative path"
  end
  if rel:sub(1, 1) == "/" or rel:find("%.%.") or rel:find("%z") then
    return nil, "'" .. rel .. "': only paths beside the spec (relative, without '..') may be read"
  end
  return (dir ~= "" and dir ~= "." and (dir .. "/") or "") .. rel
end

--- The environment of a spec file (and of the registry modules it requires).
-- opts: { dir = the spec's directory, read_file = function(path) -> text, embedded (or nil),
--         trusted = bool }
function M.env(opts)
  local cache = {}
  local env
  local function load_module(name)
    local rel = name:gsub("%.", "/") .. ".lua"
    for _, cand in ipairs({ opts.dir .. "/../" .. rel, opts.dir .. "/" .. rel, rel }) do
      local src, embedded = opts.read_file(cand)
      if src then
        local fn, err = loadstring(src, "@" .. (embedded and rel or cand))
        if not fn then
          error(err, 0)
        end
        setfenv(fn, env)
        local v = fn(name)
        return v == nil and true or v
      end
    end
    return nil
  end
  local function sandbox_require(name)
    if cache[name] ~= nil then
      return cache[name]
    end
    if type(name) ~= "string" or not name:match("^[%w_]+[%w_.]*$") or name:find("%.%.") then
      error("require: bad module name " .. tostring(name), 2)
    end
    local v
    if HOST_MODULES[name] then
      v = HOST_MODULES[name]()
    else
      v = load_module(name)
      if v == nil and opts.trusted then
        v = require(name)
      elseif v == nil then
        error("require('" .. name .. "'): spec code may require modules beside the spec"
          .. " (registry.*), 'bit' and 'feedhost.bytes'; '" .. name .. "' is not one", 2)
      end
    end
    cache[name] = v
    return v
  end
  local function read_beside(rel)
    local path, err = M.beside(opts.dir, rel)
    if not path then
      error("read_file: " .. err, 2)
    end
    local text = opts.read_file(path)
    if not text then
      error("read_file: cannot read '" .. rel .. "' beside the spec", 2)
    end
    return text
  end
  if opts.trusted then
    env = setmetatable({ require = sandbox_require, read_file = read_beside }, { __index = _G })
    return env
  end
  env = { require = sandbox_require, read_file = read_beside }
  for k, v in pairs(BASE) do
    env[k] = v
  end
  for k, v in pairs(LIBS) do
    env[k] = v
  end
  env._G = env
  return setmetatable(env, { __index = function(_, k)
    if FORBIDDEN[k] then
      error(tostring(k) .. " " .. DENIED, 2)
    end
    return nil
  end })
end

return M
