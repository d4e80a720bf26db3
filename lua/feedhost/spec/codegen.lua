--- feedhost.spec.codegen: generating Lua source for spec values, with a line -> key path map.
--
-- One generator (`Gen`) collects the lines of a chunk, the constants it references and, for
-- every line, the spec key path that produced it, so a runtime error in generated code is
-- reported as `converters.quote[1].fields.bid` rather than a line number.
--
-- Values (DESIGN.md section 2): `{source = "expr" | fn}`, `{value = const}`, `{custom = name}`,
-- with `condition` and `default`; tables of values nest; arrays of values make lists.
local expr = require("feedhost.spec.expr")

local M = {}

local Gen = {}
Gen.__index = Gen

--- A new generator. opts: { name = chunk name, location = expr.CONTEXT key, registry = table,
--- params = "data, received_at, channel" (of generated helper functions), prologue = code
--- run at the start of each helper function, ctx = code yielding the context table for function
--- sources and custom functions, tape = true to rewrite `data` for the C tape, watch_label =
--- function(key path) -> label id: calls into spec code are marked for the watchdog (`_W(id)`,
--- feedhost.sys.watch.at) }
function M.new(opts)
  local g = setmetatable({
    lines = {},
    paths = {},
    consts = {},
    const_idx = {},
    errors = {},
    top = {},        -- lines of top-level helper functions (emitted before the body)
    top_paths = {},
    nfn = 0,
    opts = opts,
  }, Gen)
  local names = {}
  for k, v in pairs(opts.registry or {}) do
    if type(k) == "string" and type(v) == "function" then
      names[#names + 1] = k
    end
  end
  g.allowed = expr.allowed(opts.location, names)
  g.registry_names = names
  for _, n in ipairs(opts.extra_names or {}) do
    g.allowed[n] = true
  end
  return g
end

local function count_lines(s)
  local n = 1
  for _ in s:gmatch("\n") do
    n = n + 1
  end
  return n
end

--- Appends code (may span lines) attributed to `path`.
function Gen:emit(code, path)
  local n = count_lines(code)
  self.lines[#self.lines + 1] = code
  self.paths[#self.paths + 1] = { n = n, path = path }
end

function Gen:emit_top(code, path)
  self.top[#self.top + 1] = code
  self.top_paths[#self.top_paths + 1] = { n = count_lines(code), path = path }
end

--- A reference to constant `v` in generated code (`K[3]`), or a literal for simple scalars.
function Gen:const(v)
  local t = type(v)
  if t == "string" then
    return string.format("%q", v):gsub("\\\n", "\\n")
  elseif t == "number" and v == v and v ~= math.huge and v ~= -math.huge then
    return string.format("%.17g", v)
  elseif t == "boolean" or t == "nil" then
    return tostring(v)
  end
  local i = self.const_idx[v]
  if not i then
    i = #self.consts + 1
    self.consts[i] = v
    self.const_idx[v] = i
  end
  return "_K[" .. i .. "]"
end

function Gen:error(path, msg)
  self.errors[#self.errors + 1] = { path = path, msg = msg }
end

--- `code` (an expression) marked for the watchdog as spec code at `path` (when watched).
function Gen:guard(path, code)
  local label = self.opts.watch_label
  if not label then
    return code
  end
  return "(_W(" .. label(path) .. ") and " .. code .. ")"
end

--- A statement marking that spec code at `path` runs next ("" when not watched).
function Gen:mark(path)
  local label = self.opts.watch_label
  return label and ("_W(" .. label(path) .. ") ") or ""
end

-- Whether an expression may run code of the spec's (a function literal, a string lambda, a
-- registry function): only those can loop, so only those are marked for the watchdog.
function Gen:calls_spec_code(src)
  if src:find("function", 1, true) or src:find("|", 1, true) then
    return true
  end
  for _, n in ipairs(self.registry_names) do
    if src:find(n, 1, true) then
      return true
    end
  end
  return false
end

--- Checks and (for the tape) rewrites an expression string. @return code or nil (error recorded)
function Gen:expression(src, path, as_token)
  local ok, err = expr.check(src, self.allowed)
  if not ok then
    self:error(path, err)
    return nil
  end
  local code
  if self.opts.tape then
    -- `data` and the names of fan-out values (opts.tape_names) are tape tokens
    local rw, bound = src, {}
    for _, name in ipairs(self.opts.tape_names or { "data" }) do
      local r = expr.rewrite_tape(rw, as_token and name == "data", name)
      if r then
        rw = r
      else
        bound[#bound + 1] = name
      end
    end
    if #bound == 0 then
      code = "(" .. rw .. "\n)"
    else
      -- a name rebound inside: hand the expression materialized values
      local args = {}
      for i, name in ipairs(bound) do
        args[i] = "_JM(" .. name .. ")"
      end
      code = "(function(" .. table.concat(bound, ", ") .. ") return (" .. rw .. "\n) end)("
        .. table.concat(args, ", ") .. ")"
    end
  else
    code = "(" .. src .. "\n)"
  end
  return self:calls_spec_code(src) and self:guard(path, code) or code
end

--- Code calling Lua function `fn` (the spec's) with the context.
function Gen:call_fn(fn, path)
  return self:guard(path, self:const(fn) .. "(" .. self.opts.ctx .. ")")
end

--- Code calling registry function or Lua function `ref` with the context.
function Gen:call_ref(ref, path)
  local fn = ref
  if type(ref) == "string" then
    fn = self.opts.registry and self.opts.registry[ref]
    if type(fn) ~= "function" then
      self:error(path, "registry has no function '" .. ref .. "'")
      return "nil"
    end
  end
  return self:call_fn(fn, path)
end

local function is_value(v)
  return type(v) == "table" and (v.source ~= nil or v.value ~= nil or v.custom ~= nil)
end
M.is_value = is_value

local function is_list(t)
  return type(t) == "table" and #t > 0 and next(t, #t) == nil
end
M.is_list = is_list

-- Code of a plain value (no condition/default) or nil.
function Gen:plain(v, path)
  if v.source ~= nil then
    if type(v.source) == "function" then
      return self:call_fn(v.source, path .. ".source")
    end
    return self:expression(v.source, path .. ".source") or "nil"
  elseif v.custom ~= nil then
    return self:call_ref(v.custom, path .. ".custom")
  end
  return self:const(v.value)
end

local function simple(v)
  if is_value(v) then
    return v.condition == nil and v.default == nil
  end
  if type(v) ~= "table" then
    return true
  end
  for _, x in pairs(v) do
    if not simple(x) then
      return false
    end
  end
  return true
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b)
    if type(a) == type(b) then
      return a < b
    end
    return type(a) == "number"
  end)
  return keys
end

local function key_code(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not expr.KEYWORDS[k] then
    return k
  end
  return "[" .. (type(k) == "string" and string.format("%q", k) or tostring(k)) .. "]"
end
M.key_code = key_code

local function sub_path(path, k)
  if type(k) == "number" then
    return path .. "[" .. k .. "]"
  end
  if k:match("^[%a_][%w_]*$") then
    return path .. "." .. k
  end
  return path .. string.format("[%q]", k)
end
M.sub_path = sub_path

--- Code of an expression yielding the value tree `v` when it has no condition/default inside.
function Gen:inline(v, path)
  if is_value(v) then
    return self:plain(v, path)
  end
  if type(v) ~= "table" then
    self:error(path, "expected a value table like { source = \"...\" } or { value = ... }")
    return "nil"
  end
  local parts = {}
  if is_list(v) then
    for i = 1, #v do
      parts[#parts + 1] = self:inline(v[i], sub_path(path, i))
    end
    return "setmetatable({" .. table.concat(parts, ", ") .. "}, _ARR)"
  end
  for _, k in ipairs(sorted_keys(v)) do
    parts[#parts + 1] = key_code(k) .. " = " .. self:inline(v[k], sub_path(path, k))
  end
  return "{" .. table.concat(parts, ",\n") .. "}"
end

--- A top-level helper function evaluating value `v` (for pcall with a default).
function Gen:helper_fn(v, path)
  self.nfn = self.nfn + 1
  local name = "F" .. self.nfn
  local code = self:plain(v, path)
  self:emit_top("local function " .. name .. "(" .. self.opts.params .. ")\n" .. (self.opts.prologue or "")
    .. " return " .. code .. " end", path)
  return name
end

local tmp_counter = 0
local function tmp()
  tmp_counter = tmp_counter + 1
  return "t" .. tmp_counter
end

--- Emits statements storing value `v` into `target` (an lvalue, e.g. `r.bid`); with a condition
--- the store is skipped when false; with a default errors and nil yield the default.
function Gen:store(target, v, path)
  if simple(v) then
    self:emit(target .. " = " .. self:inline(v, path), path)
    return
  end
  if not is_value(v) then
    -- a nested table (or list) with conditional members
    local t = tmp()
    if is_list(v) then
      self:emit("local " .. t .. " = setmetatable({}, _ARR)", path)
      for i = 1, #v do
        self:store(t .. "[#" .. t .. " + 1]", v[i], sub_path(path, i))
      end
    else
      self:emit("local " .. t .. " = {}", path)
      for _, k in ipairs(sorted_keys(v)) do
        local kc = key_code(k)
        self:store(t .. (kc:sub(1, 1) == "[" and kc or ("." .. kc)), v[k], sub_path(path, k))
      end
    end
    self:emit(target .. " = " .. t, path)
    return
  end
  local open = false
  if v.condition ~= nil then
    local cond
    if type(v.condition) == "function" then
      cond = self:call_fn(v.condition, path .. ".condition")
    else
      cond = self:expression(v.condition, path .. ".condition") or "false"
    end
    self:emit("if " .. cond .. " then", path .. ".condition")
    open = true
  end
  if v.default ~= nil then
    local fname = self:helper_fn(v, path)
    local t = tmp()
    self:emit("local ok_" .. t .. ", " .. t .. " = pcall(" .. fname .. ", " .. self.opts.params .. ")", path)
    self:emit("if not ok_" .. t .. " or " .. t .. " == nil then " .. t .. " = " .. self:const(v.default) .. " end", path)
    self:emit(target .. " = " .. t, path)
  else
    self:emit(target .. " = " .. self:plain(v, path), path)
  end
  if open then
    self:emit("end", path)
  end
end

-- Emits `key = <value>,` for a member of a table constructor; a nested table of values gets a
-- line per member, so a runtime error maps to the member's own key path (`fields.data.price`).
function Gen:emit_member(k, v, path)
  if is_value(v) or type(v) ~= "table" or is_list(v) then
    self:emit("  " .. key_code(k) .. " = " .. self:inline(v, path) .. ",", path)
    return
  end
  self:emit("  " .. key_code(k) .. " = {", path)
  for _, kk in ipairs(sorted_keys(v)) do
    self:emit_member(kk, v[kk], sub_path(path, kk))
  end
  self:emit("  },", path)
end

--- Emits `local <var> = { base..., fields... }` for a fields table (record or message body).
--- `base` is a list of preformatted `key = code` entries put first (channel, connection).
function Gen:build(var, fields, path, base)
  if type(fields) ~= "table" then
    self:error(path, "expected a table of values")
    fields = {}
  end
  -- each entry on a line of its own, so a runtime error maps to the field's key path
  self:emit("local " .. var .. " = {", path)
  for _, b in ipairs(base or {}) do
    self:emit("  " .. b .. ",", path)
  end
  local later = {}
  for _, k in ipairs(sorted_keys(fields)) do
    local v = fields[k]
    if simple(v) then
      self:emit_member(k, v, sub_path(path, k))
    else
      later[#later + 1] = k
    end
  end
  self:emit("}", path)
  for _, k in ipairs(later) do
    local kc = key_code(k)
    self:store(var .. (kc:sub(1, 1) == "[" and kc or ("." .. kc)), fields[k], sub_path(path, k))
  end
end

--- The whole chunk source: helper functions first, then the body; and its line map.
function Gen:source(header)
  local out, map = {}, {}
  local line = 1
  local function add(code, path)
    out[#out + 1] = code
    local n = count_lines(code)
    for l = line, line + n - 1 do
      map[l] = path
    end
    line = line + n
  end
  add(header, nil)
  for i, c in ipairs(self.top) do
    add(c, self.top_paths[i].path)
  end
  for i, c in ipairs(self.lines) do
    add(c, self.paths[i].path)
  end
  return table.concat(out, "\n"), map
end

return M
