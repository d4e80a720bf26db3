--- feedhost.spec.fanout: splitting a frame into elements, with outer context.
--
-- A connection's `frame` says what one frame is:
--   "record" (default)  the frame is one element
--   "array"             a JSON array frame is a list of elements (anything else: one element)
--   { each = "data.data", with = { ch = "data.channel" }, when = "<expr>" }
--       fan-out: `each` is a key path to the list of elements, `[*]` marking a list to walk
--       into ("data.events[*].trades": every trade of every event); a list of such paths gives
--       alternatives tried in order at each level ("data.events[*].tickers" too). `with` names
--       values of the frame (or, with `[*]`, of the element of that level, "data.events[*].type")
--       that routers, converters and hooks read by name beside `data`, the element. `when`
--       (an expression of the frame) fans out only the frames it holds for. A frame (or an
--       element of an outer level) whose list is missing or not an array is routed whole, as
--       one element; an empty list gives none.
-- On the JSON fast path the walk is part of the batch loop and `with` values are tape tokens:
-- no Lua table is built per frame or element.
--
--   local plan, errs = fanout.plan(frame)     -- nil plan for "record"
--   plan.levels[k] = { "data.trades", ... }   -- per level, alternatives (expressions over the
--                                                container of that level, named `data`)
--   plan.with = { { name, level, expr }, ... } -- level 0: the frame; expr over that level's
--                                                element, named `data`
--   plan.names                                -- the `with` names, sorted
local expr = require("feedhost.spec.expr")

local M = {}

-- names a `with` value may not take: what expressions already mean by them
local RESERVED = {}
for _, list in ipairs({ expr.CONTEXT.data, expr.HELPERS, expr.STDLIB }) do
  for _, n in ipairs(list) do
    RESERVED[n] = true
  end
end
-- nor the locals of the generated loops and converters that read or set them, nor the numbered
-- temporaries the generators emit: a<k> i<k> (fan-out loops), c<k> l<k> (batch loop), t<n> ok_t<n>
-- F<n> (codegen), o<n> (codegen_out)
local GENERATED = {}
for n in ("i n p len fr root perr poff a frames buf ok e err r cv"):gmatch("%S+") do
  GENERATED[n] = true
end
local function generated(name)
  return GENERATED[name] or name:match("^[acilotF]%d+$") or name:match("^ok_t%d+$")
    or name:sub(1, 1) == "_"
end

-- Whether `s` is a key path over `data`: data(.name|[n]|["name"])*.
local function is_key_path(s)
  if s:sub(1, 4) ~= "data" then
    return false
  end
  local i = 5
  while i <= #s do
    local name = s:match("^%.[%a_][%w_]*", i)
    local idx = not name and (s:match("^%[%d+%]", i) or s:match('^%["[^"]*"%]', i))
    if not (name or idx) then
      return false
    end
    i = i + #(name or idx)
  end
  return true
end

-- "data.events[*].trades" -> { "data.events", "data.trades" }, or nil, message
local function split_levels(path)
  if type(path) ~= "string" then
    return nil, "expected a key path string like 'data.data', got " .. type(path)
  end
  local segs, pos = {}, 1
  while true do
    local s, e = path:find("[*]", pos, true)
    segs[#segs + 1] = path:sub(pos, (s or 0) - 1)
    if not s then
      break
    end
    pos = e + 1
  end
  if segs[#segs] == "" and #segs > 1 then
    segs[#segs] = nil -- "data.data[*]" is "data.data"
  end
  for k, seg in ipairs(segs) do
    local p = k == 1 and seg or ("data" .. seg)
    if (k > 1 and seg ~= "" and not seg:match("^[.%[]")) or not is_key_path(p) then
      return nil, "'" .. path .. "' is not a key path (data, then .name, [n] or [\"name\"], with"
        .. " [*] after a list to walk into)"
    end
    segs[k] = p
  end
  return segs
end
M.split_levels = split_levels

--- The plan of a connection's `frame` (see the module header): nil for "record", or the plan;
-- or nil and errors {path, msg} (paths relative to the connection).
function M.plan(frame)
  if frame == nil or frame == "record" then
    return nil
  end
  if frame == "array" then
    return { levels = { { "data" } }, with = {}, names = {} }
  end
  if type(frame) ~= "table" then
    return nil -- the schema reports it
  end
  local errs = {}
  local function fail(path, msg)
    errs[#errs + 1] = { path = path, msg = msg }
  end
  local alts = type(frame.each) == "table" and frame.each or { frame.each }
  local levels, nlev = {}, nil
  for i, a in ipairs(alts) do
    local segs, err = split_levels(a)
    local at = type(frame.each) == "table" and ("frame.each[" .. i .. "]") or "frame.each"
    if not segs then
      fail(at, err)
    elseif nlev and #segs ~= nlev then
      fail(at, "every alternative needs the same number of levels ([*]): '" .. alts[1]
        .. "' has " .. nlev .. ", this one " .. #segs)
    else
      nlev = #segs
      for k, p in ipairs(segs) do
        levels[k] = levels[k] or {}
        local seen = false
        for _, q in ipairs(levels[k]) do
          seen = seen or q == p
        end
        if not seen then
          levels[k][#levels[k] + 1] = p
        end
      end
    end
  end
  local plan = { levels = levels, with = {}, names = {}, when = frame.when }
  local names = {}
  for name in pairs(frame.with or {}) do
    names[#names + 1] = name
  end
  table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
  for _, name in ipairs(names) do
    local at = "frame.with." .. tostring(name)
    local path = frame.with[name]
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") or expr.KEYWORDS[name] then
      fail(at, "a name of a with value must be an identifier")
    elseif RESERVED[name] then
      fail(at, "'" .. name .. "' is a name expressions already have (" .. table.concat(
        expr.CONTEXT.data, ", ") .. ", the helpers and the standard library): choose another")
    elseif generated(name) then
      fail(at, "'" .. name .. "' is a name of the generated code (short names like i, p, r, a1"
        .. " and names starting with _): choose another")
    else
      local segs, err = split_levels(path)
      if not segs then
        fail(at, err)
      else
        local level = #segs - 1
        if (path:sub(-3) == "[*]") then
          -- "data.events[*]": the element itself
          level = #segs
          segs[#segs + 1] = "data"
        end
        local ok = level <= #levels
        for k = 1, level do
          local found = false
          for _, q in ipairs(levels[k] or {}) do
            found = found or q == segs[k]
          end
          ok = ok and found
        end
        if not ok then
          fail(at, "'" .. path .. "': a [*] in a with path must follow the each path ("
            .. table.concat(type(frame.each) == "table" and frame.each or { tostring(frame.each) },
              " or ") .. ")")
        else
          plan.with[#plan.with + 1] = { name = name, level = level, expr = segs[#segs] }
          plan.names[#plan.names + 1] = name
        end
      end
    end
  end
  if #errs > 0 then
    return nil, errs
  end
  return plan
end

--- For the schema: the errors of a `frame` table (pushing them with ctx.err at their paths).
function M.check(t, segs, ctx, push)
  local _, errs = M.plan(t)
  for _, e in ipairs(errs or {}) do
    local s = segs
    for part in e.path:gsub("^frame%.?", ""):gmatch("[^.%[%]]+") do
      s = push(s, tonumber(part) or part)
    end
    ctx.err(s, e.msg)
  end
end

---------------------------------------------------------------------------------------------
-- code generation (feedhost.spec.pipeline_gen)

--- Declarations every mode shares (before any generated function): the `with` names, and the
--- functions adding them to a context table (function sources and hooks get them there).
function M.header(plan)
  if not plan or #plan.names == 0 then
    return ""
  end
  local t, l = {}, {}
  for _, n in ipairs(plan.names) do
    t[#t + 1] = "c." .. n .. " = _JM(" .. n .. ")"
    l[#l + 1] = "c." .. n .. " = " .. n
  end
  return "\nlocal " .. table.concat(plan.names, ", ")
    .. "\nlocal function _WCTX_t(c) " .. table.concat(t, " ") .. " return c end"
    .. "\nlocal function _WCTX_l(c) " .. table.concat(l, " ") .. " return c end"
end

-- The keys of key path `p` over data: "data.a[2][\"x-y\"]" -> { '"a"', '2', '"x-y"' } (code).
local function keys_of(p)
  local keys, i = {}, 5
  while i <= #p do
    local name = p:match("^%.([%a_][%w_]*)", i)
    if name then
      keys[#keys + 1] = string.format("%q", name)
      i = i + #name + 1
    else
      local idx = p:match("^%[(%d+)%]", i) or p:match('^%[("[^"]*")%]', i)
      keys[#keys + 1] = idx
      i = i + #idx + 2
    end
  end
  return keys
end

-- Statements setting `target` to the value at key path `p` over `data`, nil wherever a member
-- is missing (a tape token in tape mode): never an error.
local function path_code(p, target, tapemode)
  local out = { target .. " = data" }
  for _, k in ipairs(keys_of(p)) do
    if tapemode then
      out[#out + 1] = "if " .. target .. " ~= nil then " .. target .. " = _JT(" .. target .. ", " .. k .. ") end"
    else
      out[#out + 1] = "if type(" .. target .. ") == \"table\" then " .. target .. " = " .. target .. "[" .. k
        .. "] else " .. target .. " = nil end"
    end
  end
  return table.concat(out, " ")
end

-- statements setting `target` to the list at `level` of the container named `data`: the first
-- alternative present
local function list_code(plan, level, target, tapemode)
  local out = {}
  for i, p in ipairs(plan.levels[level]) do
    out[#out + 1] = (i > 1 and ("if " .. target .. " == nil then ") or "") .. path_code(p, target, tapemode)
      .. (i > 1 and " end" or "")
  end
  return "local " .. target .. "\n" .. table.concat(out, "\n")
end

-- statements setting the with values of `level` from its element, named `data` (and clearing
-- those of deeper levels)
local function with_code(plan, level, tapemode)
  local out = {}
  for _, w in ipairs(plan.with) do
    if w.level == level then
      out[#out + 1] = path_code(w.expr, w.name, tapemode)
    elseif w.level > level then
      out[#out + 1] = w.name .. " = nil"
    end
  end
  return table.concat(out, "\n")
end

local function is_arr(var, tapemode)
  if tapemode then
    return var .. " ~= nil and _RTYPE(" .. var .. ") == _J_ARR"
  end
  return "type(" .. var .. ") == \"table\" and (" .. var .. "[1] ~= nil or getmetatable(" .. var
    .. ") == _ARR)"
end

-- the `when` condition over the frame (`data`), or nil
local function when_code(g, plan)
  local w = plan.when
  if w == nil then
    return nil
  end
  if type(w) == "function" then
    return g:call_fn(w, "frame.when")
  end
  return g:expression(w, "frame.when") or "false"
end

--- Emits `_FAN_<mode>(data, received_at, p, len)`: the elements of one frame, each through
--- `_EL_<mode>` under its own xpcall (the general frame path and the Lua-table path). Returns
--- true when the batch must stop (the watchdog's interrupt).
function M.gen_frame_split(g, plan, mode)
  local tapemode = mode == "t"
  g.opts.tape = tapemode
  local n = #plan.levels
  local L = {}
  local function add(s)
    L[#L + 1] = s
  end
  local len = tapemode and function(v) return "_RLEN(" .. v .. ")" end or function(v) return "#" .. v end
  local first = tapemode and function(v) return v .. " + 1" end or function() return "1" end
  local nxt = tapemode and function(v) return "_RNEXT(" .. v .. ")" end or function(v) return v .. " + 1" end
  local get = tapemode and function(_, e) return e end or function(a, e) return a .. "[" .. e .. "]" end
  local one = "_ONE_" .. mode
  add("local function " .. one .. "(e, received_at, p, len)")
  add("local ok, err = xpcall(_EL_" .. mode .. ", _HANDLER, e, received_at)")
  add("if not ok then return _fail(err, p, len" .. (tapemode and ", e" or "") .. ") end")
  add("end")
  add("local function _FAN_" .. mode .. "(data, received_at, p, len)")
  add(with_code(plan, 0, tapemode))
  local w = when_code(g, plan)
  if w then
    add("if not (" .. w .. ") then return " .. one .. "(data, received_at, p, len) end")
  end
  add(list_code(plan, 1, "a1", tapemode))
  add("if not (" .. is_arr("a1", tapemode) .. ") then return " .. one .. "(data, received_at, p, len) end")
  for k = 1, n do
    add("local i" .. k .. " = " .. first("a" .. k))
    add("for _ = 1, " .. len("a" .. k) .. " do")
    add("local data = " .. get("a" .. k, "i" .. k))
    add("i" .. k .. " = " .. nxt("i" .. k))
    add(with_code(plan, k, tapemode))
    if k < n then
      add(list_code(plan, k + 1, "a" .. (k + 1), tapemode))
      add("if not (" .. is_arr("a" .. (k + 1), tapemode) .. ") then if " .. one
        .. "(data, received_at, p, len) then return true end else")
    else
      add("if " .. one .. "(data, received_at, p, len) then return true end")
    end
  end
  for k = n, 1, -1 do
    add(k < n and "end end" or "end")
  end
  add("end")
  g:emit(table.concat(L, "\n"), "frame")
end

--- Emits the JSON fast path of a batch (see feedhost.spec.pipeline_gen): the frames of a batch,
--- the lists of every level and their elements are one flat loop under one xpcall per batch.
--- The loop keeps its place in upvalues (numbers only: a token index or a count), already past
--- the element (or frame) it works on; when one raises, the error is counted at its key path
--- and the loop resumes just after it. opts: { auth_t, pp_t, reply }
function M.gen_batch_loop(g, plan, opts)
  g.opts.tape = true
  local n = plan and #plan.levels or 1
  local C, Lv, BC, BL = {}, {}, {}, {}
  for k = 1, n do
    C[k], Lv[k], BC[k], BL[k] = "c" .. k, "l" .. k, "_BC" .. k, "_BL" .. k
  end
  local function save(from, to)
    local a, b = {}, {}
    for k = from, to do
      a[#a + 1] = BC[k]
      a[#a + 1] = BL[k]
      b[#b + 1] = C[k]
      b[#b + 1] = Lv[k]
    end
    return table.concat(a, ", ") .. " = " .. table.concat(b, ", ")
  end
  local zeros = {}
  for _ = 1, 2 * n do
    zeros[#zeros + 1] = "0"
  end
  local regs = {}
  for k = 1, n do
    regs[#regs + 1] = C[k]
    regs[#regs + 1] = Lv[k]
  end
  local uregs = {}
  for k = 1, n do
    uregs[#uregs + 1] = BC[k]
    uregs[#uregs + 1] = BL[k]
  end
  local L = {}
  local function add(s)
    L[#L + 1] = s
  end
  add("local _BI, _BE = 0, -1")
  add("local " .. table.concat(uregs, ", ") .. " = " .. table.concat(zeros, ", "))
  add("local function _BATCH(frames, buf, n)")
  add("local i = _BI")
  add("local " .. table.concat(regs, ", ") .. " = " .. table.concat(uregs, ", "))
  add("local received_at")
  add("if i > 0 then local fr = frames[i - 1] received_at = " .. g.received_at_src .. " end")
  add("while true do")
  add("if " .. Lv[n] .. " > 0 then")
  add("local data = " .. C[n])
  add(Lv[n] .. " = " .. Lv[n] .. " - 1")
  add(C[n] .. " = _RNEXT(data)")
  add(BC[n] .. ", " .. BL[n] .. ", _BE = " .. C[n] .. ", " .. Lv[n] .. ", data")
  add("_EL_t(data, received_at)")
  g:emit(table.concat(L, "\n"), nil)
  L = {}
  for k = n - 1, 1, -1 do
    add("elseif " .. Lv[k] .. " > 0 then")
    add("local data = " .. C[k])
    add(Lv[k] .. " = " .. Lv[k] .. " - 1")
    add(C[k] .. " = _RNEXT(data)")
    add(BC[k] .. ", " .. BL[k] .. ", _BE = " .. C[k] .. ", " .. Lv[k] .. ", data")
    g:emit(table.concat(L, "\n"), nil)
    L = {}
    g:emit(with_code(plan, k, true), "frame.with")
    g:emit(list_code(plan, k + 1, "a", true) .. "\nif " .. is_arr("a", true) .. " then "
      .. C[k + 1] .. ", " .. Lv[k + 1] .. " = a + 1, _RLEN(a) else " .. C[n] .. ", " .. Lv[n]
      .. " = data, 1 end", "frame.each")
    add(save(k + 1, n))
  end
  add("else")
  add("if i >= n then return end")
  add("local fr = frames[i]")
  add("local p, len = buf + fr.off, fr.len")
  add("received_at = " .. g.received_at_src)
  add(g.topic_set_src)
  add("i = i + 1")
  add("_BI, _BE = i, -1")
  add(table.concat(uregs, ", ") .. " = " .. table.concat(zeros, ", "))
  add(table.concat(regs, ", ") .. " = " .. table.concat(zeros, ", "))
  g:emit(table.concat(L, "\n"), "frame")
  L = {}
  if opts.reply then
    g:emit("if len == " .. #opts.reply .. " and _ffi_string(p, len) == " .. g:const(opts.reply)
      .. " then _S.heartbeats = _S.heartbeats + 1 else", "heartbeat.reply")
  end
  g:emit("local root, perr, poff = _P(p, len)\n"
    .. "if root == nil then _parse_fail(perr, poff, p, len) else", "parser")
  if opts.auth_t then
    g:emit("if _AUTH.waiting then local ok, e = xpcall(" .. opts.auth_t
      .. ", _HANDLER, root) if not ok then _fail(e, p, len) end end", "auth")
  end
  g:emit("local data = root", "parser")
  if opts.pp_t then
    g:emit("data = " .. opts.pp_t, "parser.payload_path")
    g:emit("if data == nil then _S.empty = _S.empty + 1 else", "parser.payload_path")
  else
    g:emit("do", nil)
  end
  if not plan then
    g:emit(C[n] .. ", " .. Lv[n] .. " = data, 1", nil)
  else
    g:emit(with_code(plan, 0, true), "frame.with")
    local w = when_code(g, plan)
    local a = list_code(plan, 1, "a", true) .. "\nif " .. is_arr("a", true)
      .. " then " .. C[1] .. ", " .. Lv[1] .. " = a + 1, _RLEN(a) else " .. C[n] .. ", " .. Lv[n]
      .. " = data, 1 end"
    if w then
      g:emit("if " .. w .. " then", "frame.when")
      g:emit(a, "frame.each")
      g:emit("else " .. C[n] .. ", " .. Lv[n] .. " = data, 1 end", "frame.when")
    else
      g:emit(a, "frame.each")
    end
  end
  g:emit(save(1, n), nil)
  g:emit("end end" .. (opts.reply and " end" or ""), nil)
  g:emit([[
end
end
end

return function(batch, st)
  state = st
  local frames, buf = batch.frames, batch.buf
  local n = batch.n
  _S.frames = _S.frames + n
  _BI, _BE = 0, -1
  while true do
    local ok, e = xpcall(_BATCH, _HANDLER, frames, buf, n)
    if ok then break end
    local fr = frames[_BI - 1]
    if _fail(e, buf + fr.off, fr.len, _BE) then _S.skipped = _S.skipped + (n - _BI) break end
  end
end]], nil)
end

return M
