--- Running the `feedhost` binary from tests: feedhost{args...} -> exit code, stdout, stderr; the
-- Lua engine comes from this source tree (--lua-dev), the binary from FEEDHOST_BIN or build/.
local M = {}

M.BIN = os.getenv("FEEDHOST_BIN") or "build/feedhost"

local function quoted(list)
  local out = {}
  for i, a in ipairs(list) do
    out[i] = "'" .. tostring(a):gsub("'", [['"'"']]) .. "'"
  end
  return table.concat(out, " ")
end

local function take(path)
  local f = io.open(path, "rb")
  local text = f and f:read("*a") or ""
  if f then
    f:close()
  end
  os.remove(path)
  return text
end

local cwd
--- Runs the binary with `args` (a list). @return exit code, stdout, stderr
function M.run(args)
  if not cwd then
    local p = io.popen("pwd")
    cwd = p:read("*l")
    p:close()
  end
  local so, se = os.tmpname(), os.tmpname()
  local p = io.popen(quoted({ M.BIN, "--lua-dev=" .. cwd }) .. " " .. quoted(args) .. " >" .. so
    .. " 2>" .. se .. "; echo $?")
  local code = tonumber((p:read("*a") or ""):match("(%d+)%s*$"))
  p:close()
  return code, take(so), take(se)
end

--- A file with `text` that M.cleanup() removes. @return its path
local made = {}
function M.file(text, suffix)
  local base = os.tmpname()
  os.remove(base)
  made[#made + 1] = require("spec.helpers.integration").write(base .. (suffix or ""), text)
  return made[#made]
end

function M.cleanup()
  for _, path in ipairs(made) do
    os.remove(path)
  end
  made = {}
end

return M
