--- feedhost.spec.credentials: a spec's credentials, from a table, a file or the environment.
local json = require("feedhost.util.json")
local files = require("feedhost.util.files")

local M = {}

--- Credentials for `spec`: from `given` (a table), else the environment (`ALPACA_API_KEY`).
-- @return table, or nil and a message naming every missing field
function M.resolve(spec, given, getenv)
  getenv = getenv or os.getenv
  local out = {}
  local cred = spec.credentials or {}
  local prefix = (spec.name or "feed"):upper():gsub("[^%w]", "_")
  local missing = {}
  local optional = {}
  for _, f in ipairs(cred.optional or {}) do
    optional[f] = true
  end
  local fields = {}
  for _, f in ipairs(cred.fields or {}) do
    fields[#fields + 1] = f
  end
  for _, f in ipairs(cred.optional or {}) do
    fields[#fields + 1] = f
  end
  for _, f in ipairs(fields) do
    local v = given and given[f]
    if v == nil then
      v = getenv(prefix .. "_" .. f:upper():gsub("[^%w]", "_"))
    end
    if v == nil and not optional[f] then
      missing[#missing + 1] = f .. " (or $" .. prefix .. "_" .. f:upper():gsub("[^%w]", "_") .. ")"
    end
    out[f] = v
  end
  for k, v in pairs(given or {}) do
    if out[k] == nil then
      out[k] = v
    end
  end
  if #missing > 0 then
    return nil, "missing credential" .. (#missing > 1 and "s " or " ") .. table.concat(missing, ", ")
  end
  return out
end

--- Reads a credentials file: a Lua chunk returning a table, or a JSON object.
function M.read(path)
  local src, err = files.read(path, 1024 * 1024)
  if not src then
    return nil, "credentials file: " .. err
  end
  -- the content is secret: no message below quotes any of it
  if src:match("^%s*{") then
    local ok, t = pcall(json.decode, src)
    if ok and type(t) == "table" then
      return t
    end
    if not src:match("^%s*{%s*[%a_]") or src:match('^%s*{%s*"') then
      local at = tostring(t):match("at character (%d+)") or tostring(t):match("at byte (%d+)")
      return nil, path .. ": not a valid JSON object" .. (at and (" (error at byte " .. at .. ")") or "")
    end
  end
  local fn, lerr = loadstring(src, "=" .. path)
  if not fn then
    local line = files.syntax_line(lerr)
    return nil, path .. ": not a Lua table (syntax error" .. (line and (" at line " .. line) or "") .. ")"
  end
  setfenv(fn, {})
  jit.off(fn, true)   -- interpreted, so the instruction budget below can stop a runaway file
  debug.sethook(function() error("took too long", 0) end, "", 1e6)
  local ok, t = pcall(fn)
  debug.sethook()
  if not ok and t == "took too long" then
    return nil, path .. ": did not finish (a loop that never ends?)"
  elseif not ok or type(t) ~= "table" then
    return nil, path .. ": expected a Lua table or a JSON object"
  end
  return t
end

return M
