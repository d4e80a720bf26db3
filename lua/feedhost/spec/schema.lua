--- Spec validation for feedhost (DESIGN.md sections 2 and 3): the generic walker.
---
--- The whole spec format is described once, declaratively, in `feedhost.spec.schema_def`
--- (`SCHEMA`, a tree of nodes); one generic walker (`walk`) checks a spec against it and collects
--- every error, with did-you-mean suggestions. Nothing here compiles or evaluates expressions: an
--- expression is only checked to be a string or a function.
---
--- Node kinds (field `kind`):
---   string, number{min, gt, max, integer}, boolean, func, any, table, const (any non-function)
---   enum{values, hint}              one of a fixed set of values, with did-you-mean
---   ident{what}                     a string that is an identifier (letters, digits, underscore)
---   by_type{types = {luatype = node}, order}   dispatch on the Lua type of the value
---   record{keys, required, exactly_one, one_of_required, requires_when, open, check}
---   map{key, value, min, empty_msg, hint_keys}   any number of named entries
---   list{item, min}                 a sequence 1..n
---   one_or_list{item, list}         one item, or a list of them
---   depends{on, default, cases, otherwise}  node chosen by a sibling key (backend.options)
---   regname                         a registry function name (checked against spec.registry)
---   value{leaf, leaf_keys, leaf_all_keys, hint}   the value grammar: a leaf (a record node
---                                   holding one of leaf_keys), or a nested table or list of values
---
--- A record's `check(t, segs, ctx)` adds errors with `ctx.err(segs, msg)`; `M.tools` has the
--- helpers it may need (push, repr, join, or_list, sorted_keys, did_you_mean).
---@class feedhost.spec.schema
local M = {}

---------------------------------------------------------------------------------------------
-- small helpers

local LUA_KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do
  LUA_KEYWORDS[w] = true
end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not LUA_KEYWORDS[s]
end

--- Formats a list of path segments: `streaming.connections.md.router.rules[2].match`.
---@param segs any[]
---@return string
function M.format_path(segs)
  if #segs == 0 then return "(spec)" end
  local out = {}
  for i, s in ipairs(segs) do
    if type(s) == "number" then
      out[#out + 1] = "[" .. tostring(s) .. "]"
    elseif is_identifier(s) then
      out[#out + 1] = (i == 1) and s or ("." .. s)
    elseif type(s) == "string" then
      out[#out + 1] = "[" .. string.format("%q", s) .. "]"
    else
      out[#out + 1] = "[" .. tostring(s) .. "]"
    end
  end
  return table.concat(out)
end

local function push(segs, key)
  local n = #segs
  local t = {}
  for i = 1, n do t[i] = segs[i] end
  t[n + 1] = key
  return t
end

local function repr(v)
  if type(v) == "string" then return "'" .. v .. "'" end
  return tostring(v)
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return ks
end

local function join(list, sep)
  local out = {}
  for i, v in ipairs(list) do out[i] = tostring(v) end
  return table.concat(out, sep or ", ")
end

-- "string", "number or string", "string, number or function"
local function or_list(list)
  if #list == 1 then return list[1] end
  return table.concat(list, ", ", 1, #list - 1) .. " or " .. list[#list]
end

-- Shape of a table: "empty", "list", "record" (only non-integer keys) or "mixed".
local function shape(t)
  local n_int, n_other = 0, 0
  for k in pairs(t) do
    if type(k) == "number" and k >= 1 and k % 1 == 0 then n_int = n_int + 1
    else n_other = n_other + 1 end
  end
  if n_int == 0 and n_other == 0 then return "empty" end
  if n_other == 0 then return "list" end
  if n_int == 0 then return "record" end
  return "mixed"
end

---------------------------------------------------------------------------------------------
-- suggestions

-- Unrestricted Damerau-Levenshtein distance (Lowrance-Wagner), on bytes.
local function dl_distance(a, b)
  local la, lb = #a, #b
  if la == 0 then return lb end
  if lb == 0 then return la end
  local inf = la + lb
  local d = {}
  for i = -1, la do d[i] = {} end
  d[-1][-1] = inf
  for i = 0, la do d[i][-1] = inf; d[i][0] = i end
  for j = 0, lb do d[-1][j] = inf; d[0][j] = j end
  local last_row = {}
  for i = 1, la do
    local ca = a:byte(i)
    local last_col = 0
    for j = 1, lb do
      local cb = b:byte(j)
      local k = last_row[cb] or 0
      local l = last_col
      local cost = 1
      if ca == cb then cost = 0; last_col = j end
      local v = d[i - 1][j - 1] + cost
      local ins = d[i][j - 1] + 1
      if ins < v then v = ins end
      local del = d[i - 1][j] + 1
      if del < v then v = del end
      local trans = d[k - 1][l - 1] + (i - k - 1) + 1 + (j - l - 1)
      if trans < v then v = trans end
      d[i][j] = v
    end
    last_row[ca] = i
  end
  return d[la][lb]
end
M.distance = dl_distance

--- The candidate closest to `word`, or nil. A case-insensitive match always qualifies;
--- otherwise the Damerau-Levenshtein distance must be <= max(1, #word // 3). Ties go to
--- the earlier candidate.
---@param word string
---@param candidates string[]
---@return string|nil
function M.suggest(word, candidates)
  if type(word) ~= "string" or type(candidates) ~= "table" then return nil end
  local lw = word:lower()
  for _, c in ipairs(candidates) do
    if c == word then return c end
  end
  for _, c in ipairs(candidates) do
    if type(c) == "string" and c:lower() == lw then return c end
  end
  local limit = math.max(1, math.floor(#word / 3))
  local best, best_d
  for _, c in ipairs(candidates) do
    if type(c) == "string" then
      local dist = dl_distance(word, c)
      if dist <= limit and (best_d == nil or dist < best_d) then best, best_d = c, dist end
    end
  end
  return best
end

local function did_you_mean(word, candidates)
  local s = M.suggest(word, candidates)
  if s then return " (did you mean '" .. s .. "'?)" end
  return ""
end

--- For the `check` functions of record nodes: push(segs, key) -> a new path one key deeper;
--- repr(v) -> 'v' for strings; join(list, sep) -> "a, b"; or_list(list) -> "a, b or c";
--- sorted_keys(t); did_you_mean(word, candidates) -> " (did you mean 'x'?)" or "".
M.tools = {
  push = push, repr = repr, join = join, or_list = or_list, sorted_keys = sorted_keys,
  did_you_mean = did_you_mean,
}

---------------------------------------------------------------------------------------------
-- the walker

local walk

local function type_error(ctx, segs, expected, v)
  ctx.err(segs, "expected " .. expected .. ", got " .. type(v))
end

local function check_number(node, v, segs, ctx)
  if type(v) ~= "number" then return type_error(ctx, segs, "number", v) end
  if v ~= v then return ctx.err(segs, "expected a number, got nan") end
  if node.integer and v % 1 ~= 0 then
    return ctx.err(segs, "must be an integer, got " .. tostring(v))
  end
  if node.min and node.max and (v < node.min or v > node.max) then
    return ctx.err(segs, "must be between " .. node.min .. " and " .. node.max .. ", got "
      .. tostring(v))
  end
  if node.gt and v <= node.gt then
    return ctx.err(segs, "must be > " .. node.gt .. ", got " .. tostring(v))
  end
  if node.min and v < node.min then
    return ctx.err(segs, "must be >= " .. node.min .. ", got " .. tostring(v))
  end
end

local function check_enum(node, v, segs, ctx)
  for _, e in ipairs(node.values) do
    if v == e then return true end
  end
  local t = type(node.values[1])
  if type(v) ~= t then
    type_error(ctx, segs, t, v)
    return false
  end
  local msg = repr(v) .. " is not one of " .. join(node.values)
  if t == "string" then msg = msg .. did_you_mean(v, node.values) end
  if node.hint then msg = msg .. "; " .. node.hint end
  ctx.err(segs, msg)
  return false
end

-- Validates a map key; `ksegs` is the path of the entry.
local function check_key(node, k, ksegs, ctx, what)
  if type(k) ~= "string" then
    ctx.err(ksegs, "unexpected list entry (expected named " .. (what or "entries") .. ")")
    return
  end
  if node.kind == "enum" then
    check_enum(node, k, ksegs, ctx)
  elseif node.kind == "ident" then
    if not k:match("^[%a_][%w_]*$") then
      ctx.err(ksegs, (node.what or "name") .. " must be an identifier (letters, digits,"
        .. " underscore)")
    end
  end
end

local function check_record(node, v, segs, ctx)
  if type(v) ~= "table" then return type_error(ctx, segs, "table", v) end
  local known = node.keys
  local names
  for _, k in ipairs(sorted_keys(v)) do
    local ksegs = push(segs, k)
    local child = known[k]
    if child then
      walk(child, v[k], ksegs, ctx, v)
    elseif not node.open then
      if type(k) ~= "string" then
        if not names then names = sorted_keys(known) end
        ctx.err(ksegs, "unexpected list entry (expected named keys: " .. join(names) .. ")")
      else
        if not names then names = sorted_keys(known) end
        local s = M.suggest(k, names)
        if s then
          ctx.err(ksegs, "unknown key (did you mean '" .. s .. "'?)")
        else
          ctx.err(ksegs, "unknown key (known keys: " .. join(names) .. ")")
        end
      end
    end
  end
  for _, r in ipairs(node.required or {}) do
    if v[r] == nil then ctx.err(push(segs, r), "required key is missing") end
  end
  if node.exactly_one then
    local present = {}
    for _, k in ipairs(node.exactly_one) do
      if v[k] ~= nil then present[#present + 1] = k end
    end
    if #present == 0 then
      ctx.err(segs, "needs exactly one of " .. join(node.exactly_one))
    elseif #present > 1 then
      local q = {}
      for i, k in ipairs(present) do q[i] = "'" .. k .. "'" end
      ctx.err(segs, or_list(q):gsub(" or ", " and ") .. " cannot be used together (use exactly"
        .. " one of " .. join(node.exactly_one) .. ")")
    end
  end
  local rw = node.requires_when
  if rw then
    local sel = v[rw.on]
    local needs = type(sel) == "string" and rw.cases[sel]
    if needs then
      for _, need in ipairs(needs) do
        if type(need) == "table" then -- any of these
          local any = false
          for _, k in ipairs(need) do if v[k] ~= nil then any = true end end
          if not any then
            ctx.err(push(segs, need[1]), "required when " .. rw.on .. " is " .. repr(sel)
              .. (#need > 1 and (" (or give " .. or_list(
                { unpack(need, 2) }) .. ")") or ""))
          end
        elseif v[need] == nil then
          ctx.err(push(segs, need), "required when " .. rw.on .. " is " .. repr(sel))
        end
      end
    end
  end
  if node.check then node.check(v, segs, ctx) end
end

local function check_map(node, v, segs, ctx)
  if type(v) ~= "table" then return type_error(ctx, segs, "table", v) end
  local n = 0
  for _, k in ipairs(sorted_keys(v)) do
    n = n + 1
    local ksegs = push(segs, k)
    local hint = node.hint_keys and type(k) == "string" and node.hint_keys[k]
    if hint then
      ctx.err(ksegs, "unexpected key " .. repr(k) .. ": " .. hint)
    else
      check_key(node.key, k, ksegs, ctx, node.what and (node.what .. "s"))
      walk(node.value, v[k], ksegs, ctx, v)
    end
  end
  if node.min and n < node.min then
    ctx.err(segs, node.empty_msg or ("needs at least " .. node.min .. " entr"
      .. (node.min == 1 and "y" or "ies")))
  end
end

local function check_list(node, v, segs, ctx)
  if type(v) ~= "table" then
    return ctx.err(segs, "expected a list, got " .. type(v))
  end
  local sh = shape(v)
  if sh == "record" or sh == "mixed" then
    return ctx.err(segs, "expected a list, got a table with named keys (wrap the entry in"
      .. " { ... })")
  end
  for _, k in ipairs(sorted_keys(v)) do
    walk(node.item, v[k], push(segs, k), ctx, v)
  end
  if node.min and sh == "empty" then
    ctx.err(segs, "needs at least " .. node.min .. " entr" .. (node.min == 1 and "y" or "ies"))
  end
end

local function check_value(node, v, segs, ctx)
  if type(v) ~= "table" then
    return ctx.err(segs, node.hint .. ", got " .. type(v))
  end
  for _, k in ipairs(node.leaf_keys) do
    if v[k] ~= nil then return check_record(node.leaf, v, segs, ctx) end
  end
  local sh = shape(v)
  if sh == "empty" then
    return ctx.err(segs, "empty table: " .. node.hint .. " (a constant empty table is"
      .. " { value = {} })")
  end
  if sh == "mixed" then
    ctx.err(segs, "a table of values is either a list or named fields, not both")
  end
  if sh == "record" and (v.condition ~= nil or v.default ~= nil)
    and type(v.condition) ~= "table" and type(v.default) ~= "table" then
    -- a leaf missing its source: { condition = "...", default = 0 }
    return ctx.err(segs, "needs exactly one of " .. join(node.leaf_keys))
  end
  -- no entry is a table: probably a leaf with a misspelled key ({ sorce = "..." })
  local leaf_like = true
  for _, e in pairs(v) do
    if type(e) == "table" then leaf_like = false end
  end
  for _, k in ipairs(sorted_keys(v)) do
    local e = v[k]
    local ksegs = push(segs, k)
    local s = leaf_like and type(k) == "string" and M.suggest(k, node.leaf_all_keys)
    if s and s ~= k then
      ctx.err(ksegs, "unknown key (did you mean '" .. s .. "'?)")
    else
      check_value(node, e, ksegs, ctx)
    end
  end
end

walk = function(node, v, segs, ctx, parent)
  local kind = node.kind
  if kind == "string" then
    if type(v) ~= "string" then type_error(ctx, segs, "string", v) end
  elseif kind == "number" then
    check_number(node, v, segs, ctx)
  elseif kind == "boolean" then
    if type(v) ~= "boolean" then type_error(ctx, segs, "boolean", v) end
  elseif kind == "func" then
    if type(v) ~= "function" then type_error(ctx, segs, "function", v) end
  elseif kind == "table" then
    if type(v) ~= "table" then type_error(ctx, segs, "table", v) end
  elseif kind == "any" then
    return
  elseif kind == "const" then
    if type(v) == "function" then ctx.err(segs, "expected a constant, got function") end
  elseif kind == "enum" then
    check_enum(node, v, segs, ctx)
  elseif kind == "ident" then
    if type(v) ~= "string" then return type_error(ctx, segs, "string", v) end
    check_key(node, v, segs, ctx)
  elseif kind == "by_type" then
    local child = node.types[type(v)]
    if child then
      walk(child, v, segs, ctx, parent)
    else
      type_error(ctx, segs, or_list(node.order), v)
    end
  elseif kind == "record" then
    check_record(node, v, segs, ctx)
  elseif kind == "map" then
    check_map(node, v, segs, ctx)
  elseif kind == "list" then
    check_list(node, v, segs, ctx)
  elseif kind == "depends" then
    local sel = type(parent) == "table" and parent[node.on]
    if sel == nil then sel = node.default end
    walk(node.cases[sel] or node.otherwise, v, segs, ctx, parent)
  elseif kind == "regname" then
    if v == "" then return ctx.err(segs, "empty function name") end
    local reg = ctx.registry
    if reg and reg[v] == nil then
      ctx.err(segs, "registry has no function " .. repr(v) .. did_you_mean(v, ctx.reg_names))
    end
  elseif kind == "value" then
    check_value(node, v, segs, ctx)
  elseif kind == "one_or_list" then
    if type(v) == "table" and rawget(v, 1) ~= nil then
      walk(node.list, v, segs, ctx, parent)
    else
      walk(node.item, v, segs, ctx, parent)
    end
  else
    error("feedhost.spec.schema: unknown node kind " .. tostring(kind))
  end
end

---------------------------------------------------------------------------------------------
-- public API

local function seg_less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = a[i], b[i]
    if x ~= y then
      local tx, ty = type(x), type(y)
      if tx ~= ty then return tx < ty end -- numbers (list indices) before names
      if tx == "number" or tx == "string" then return x < y end
      return tostring(x) < tostring(y)
    end
  end
  return #a < #b
end

--- Checks a spec against the spec format (`feedhost.spec.schema_def`). Returns every error found
--- (empty list: valid), sorted by path (list indices numerically), each
--- `{path = "a.b[2].c", msg = "...", file = file}`.
---@param spec any
---@param file string|nil
---@return {path: string, msg: string, file: string|nil}[]
function M.validate(spec, file)
  local raw = {}
  local ctx = {
    err = function(segs, msg) raw[#raw + 1] = { segs = segs, msg = msg } end,
  }
  if type(spec) ~= "table" then
    return { { path = "(spec)", msg = "a spec must be a table, got " .. type(spec), file = file } }
  end
  if type(spec.registry) == "table" then
    ctx.registry = spec.registry
    local names = {}
    for _, k in ipairs(sorted_keys(spec.registry)) do
      if type(k) == "string" then names[#names + 1] = k end
    end
    ctx.reg_names = names
  end
  -- required here, not at the top: schema_def builds its checks from M.tools
  walk(require("feedhost.spec.schema_def").SCHEMA, spec, {}, ctx, nil)
  table.sort(raw, function(a, b)
    if seg_less(a.segs, b.segs) then return true end
    if seg_less(b.segs, a.segs) then return false end
    return a.msg < b.msg
  end)
  local out, last = {}, nil
  for _, e in ipairs(raw) do
    local path = M.format_path(e.segs)
    local key = path .. "\0" .. e.msg
    if key ~= last then
      out[#out + 1] = { path = path, msg = e.msg, file = file }
      last = key
    end
  end
  return out
end

--- One line per error: `FILE: PATH: MSG` (no trailing newline).
---@param errors {path: string, msg: string}[]
---@param file string|nil
---@return string
function M.format_errors(errors, file)
  local lines = {}
  for i, e in ipairs(errors) do
    lines[i] = (file or e.file or "spec") .. ": " .. e.path .. ": " .. e.msg
  end
  return table.concat(lines, "\n")
end

return M
