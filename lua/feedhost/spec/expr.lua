--- feedhost.spec.expr: compiling spec expressions.
--
-- An expression is a Lua expression string from a spec (`"num(data.p)"`). At load time it is
-- checked once: syntax, and every free name it reads must exist at its location (context names,
-- helpers, registry functions, the safe standard library). Names are found exactly, from the
-- LuaJIT bytecode (GGET), not guessed from text. The pipeline compiler then inlines the source
-- into generated Lua; for JSON frames read through the C tape it first rewrites `data.a.b` into
-- tape lookups (`JG(JT(data, "a"), "b")`), so only the members named are ever read.
local jutil = require("jit.util")
local bit = require("bit")

local M = {}

-- Safe standard library available in every expression.
M.STDLIB = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring", "type",
  "unpack", "rawequal", "rawget", "string", "math", "table", "bit",
}
-- Helpers (feedhost.spec.helpers).
M.HELPERS = { "ts", "now", "num", "int", "str", "map", "filter", "split", "json" }
-- Names that exist in Lua but not in expressions, with the reason given to the user.
local FORBIDDEN = {
  os = "not available in expressions", io = "not available in expressions",
  load = "not available in expressions", loadstring = "not available in expressions",
  require = "not available in expressions (require it in a registry module)",
  debug = "not available in expressions", ffi = "not available in expressions",
  dofile = "not available in expressions", loadfile = "not available in expressions",
  jit = "not available in expressions", setfenv = "not available in expressions",
  getfenv = "not available in expressions", collectgarbage = "not available in expressions",
  module = "not available in expressions", package = "not available in expressions",
  print = "not available in expressions (use broker.logger)",
  _G = "not available in expressions", rawset = "not available in expressions",
  setmetatable = "not available in expressions", getmetatable = "not available in expressions",
}

-- Context names per location (DESIGN.md section 2).
M.CONTEXT = {
  auth = { "credentials", "broker", "connection_name" },
  subscribe = { "credentials", "broker", "connection_name", "subscribe_assets", "channel", "state" },
  token = { "credentials", "broker", "connection_name", "subscribe_assets", "channel", "asset",
    "state" },
  data = { "data", "broker", "credentials", "mappings", "connection_name", "channel",
    "received_at", "topic", "event", "state" },
  hook = { "broker", "credentials", "connection_name", "message", "error", "code", "reason",
    "state" },
  master = { "row", "source", "universe", "broker", "credentials" },
  master_path = { "doc", "broker", "credentials" },
}

---------------------------------------------------------------------------------------------
-- Lexer (enough of Lua's to find names, strings and punctuation)
---------------------------------------------------------------------------------------------
local KEYWORDS = {}
for w in ("and break do else elseif end false for function goto if in local nil not or repeat "
  .. "return then true until while"):gmatch("%S+") do
  KEYWORDS[w] = true
end
M.KEYWORDS = KEYWORDS

--- Tokens of `src`: list of { t = "name"|"kw"|"str"|"num"|"op", v = text, s = start, e = end }.
-- @return tokens, or nil and an error message
function M.lex(src)
  local toks, i, n = {}, 1, #src
  while i <= n do
    local c = src:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif src:sub(i, i + 1) == "--" then
      local eq = src:match("^%[(=*)%[", i + 2)
      if eq then
        local close = src:find("]" .. eq .. "]", i, true)
        if not close then
          return nil, "unfinished long comment"
        end
        i = close + #eq + 2
      else
        i = (src:find("\n", i, true) or n) + 1
      end
    elseif c:match("[%a_]") then
      local s, e = src:find("^[%w_]+", i)
      local w = src:sub(s, e)
      toks[#toks + 1] = { t = KEYWORDS[w] and "kw" or "name", v = w, s = s, e = e }
      i = e + 1
    elseif c:match("%d") or (c == "." and src:sub(i + 1, i + 1):match("%d")) then
      local s, e = src:find("^0[xX]%x+", i)
      if not s then
        s, e = src:find("^%d*%.?%d*[eE][%+%-]?%d+", i)
      end
      if not s then
        s, e = src:find("^%d*%.?%d*", i)
      end
      local e2 = select(2, src:find("^[%w_]*", e + 1)) -- LL/ULL/i suffixes
      e = e2 or e
      toks[#toks + 1] = { t = "num", v = src:sub(s, e), s = s, e = e }
      i = e + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      while true do
        local d = src:sub(j, j)
        if d == "" or d == "\n" then
          return nil, "unfinished string"
        end
        if d == "\\" then
          j = j + 2
        elseif d == c then
          break
        else
          j = j + 1
        end
      end
      toks[#toks + 1] = { t = "str", v = src:sub(i, j), s = i, e = j }
      i = j + 1
    elseif c == "[" and src:match("^%[=*%[", i) then
      local eq = src:match("^%[(=*)%[", i)
      local close = src:find("]" .. eq .. "]", i, true)
      if not close then
        return nil, "unfinished long string"
      end
      local e = close + #eq + 1
      toks[#toks + 1] = { t = "str", v = src:sub(i, e), s = i, e = e }
      i = e + 1
    else
      local op = src:match("^%.%.%.", i) or src:match("^%.%.", i) or src:match("^[=~<>]=", i)
        or src:match("^::", i) or c
      toks[#toks + 1] = { t = "op", v = op, s = i, e = i + #op - 1 }
      i = i + #op
    end
  end
  return toks
end

---------------------------------------------------------------------------------------------
-- Free names, from bytecode
---------------------------------------------------------------------------------------------
-- The opcode of the instruction of chunk `src` that names the constant "g": GGET and GSET found
-- by probes (jit.vmdef, which names them, is on LuaJIT's default package.path only).
local function opcode_naming_g(src)
  local f = loadstring(src)
  for pc = 1, jutil.funcinfo(f).bytecodes - 1 do
    local ins = jutil.funcbc(f, pc)
    if jutil.funck(f, -bit.rshift(ins, 16) - 1) == "g" then
      return bit.band(ins, 0xff)
    end
  end
end
local OPNAMES = { [opcode_naming_g("return g")] = "GGET", [opcode_naming_g("g = 1")] = "GSET" }
local function opname(ins)
  return OPNAMES[bit.band(ins, 0xff)]
end

local function collect_globals(fn, out)
  local info = jutil.funcinfo(fn)
  for pc = 1, (info.bytecodes or 1) - 1 do
    local ins = jutil.funcbc(fn, pc)
    if not ins then
      break
    end
    local name = opname(ins)
    if name == "GGET" or name == "GSET" then
      local d = bit.rshift(ins, 16)
      out[#out + 1] = { name = jutil.funck(fn, -d - 1), set = name == "GSET" }
    end
  end
  for k = 1, info.gcconsts or 0 do
    local c = jutil.funck(fn, -k)
    if type(c) == "proto" then
      collect_globals(c, out)
    end
  end
  return out
end

--- Names `fn` reads or writes as globals: list of { name =, set = bool }.
function M.globals(fn)
  return collect_globals(fn, {})
end

local suggest_fn
local function suggest(word, candidates)
  if not suggest_fn then
    local ok, schema = pcall(require, "feedhost.spec.schema")
    suggest_fn = ok and schema.suggest or function() return nil end
  end
  return suggest_fn(word, candidates)
end

--- Checks an expression string. `allowed` is a set (name -> true) of names it may read.
-- @return a function `return (src)` compiled in an empty environment (to inspect or call once),
--         or nil and a message ("unknown name 'nmu' (did you mean 'num'?)", "syntax error ...")
function M.check(src, allowed)
  if type(src) ~= "string" then
    return nil, "expected an expression string"
  end
  local fn, err = loadstring("return (" .. src .. "\n)", "=expression")
  if not fn then
    err = tostring(err):gsub("^expression:%d+: ", "")
    return nil, "syntax error: " .. err
  end
  local seen = {}
  for _, g in ipairs(M.globals(fn)) do
    if not seen[g.name] then
      seen[g.name] = true
      if g.set then
        return nil, "assigns to global '" .. g.name .. "' (use local, or a registry function)"
      end
      if not allowed[g.name] then
        if FORBIDDEN[g.name] then
          return nil, "'" .. g.name .. "' is " .. FORBIDDEN[g.name]
        end
        local names = {}
        for k in pairs(allowed) do
          names[#names + 1] = k
        end
        table.sort(names)
        local s = suggest(g.name, names)
        return nil, "unknown name '" .. g.name .. "'" .. (s and (" (did you mean '" .. s .. "'?)") or "")
      end
    end
  end
  return fn
end

--- The set of names an expression at `location` (a key of M.CONTEXT) may read, plus `extra`
-- (registry function names, list).
function M.allowed(location, extra)
  local set = {}
  for _, list in ipairs({ M.STDLIB, M.HELPERS, M.CONTEXT[location] or {}, extra or {} }) do
    for _, k in ipairs(list) do
      set[k] = true
    end
  end
  return set
end

--- `'|a, i| expr'` -> `function(a, i) return (expr) end` source, or nil if not a lambda.
function M.lambda_source(s)
  local params, body = s:match("^%s*|([%w_%s,]*)|(.*)$")
  if not params then
    return nil
  end
  return "function(" .. params .. ") return (" .. body .. "\n) end"
end

---------------------------------------------------------------------------------------------
-- The tape rewrite
---------------------------------------------------------------------------------------------
local function literal_key(tok)
  if tok.t == "str" then
    local f = loadstring("return " .. tok.v)
    local ok, v = pcall(f)
    if ok and type(v) == "string" then
      return string.format("%q", v)
    end
  elseif tok.t == "num" then
    local v = tonumber(tok.v)
    if v and v == math.floor(v) and v >= 1 and v < 2 ^ 31 then
      return tostring(math.floor(v))
    end
  end
  return nil
end

-- Whether `data` is bound locally somewhere in the expression (then it is not the message).
local function rebinds(toks, name)
  local in_params = false
  for k, t in ipairs(toks) do
    if t.t == "kw" and t.v == "function" then
      in_params = true
    elseif in_params and t.t == "op" and t.v == ")" then
      in_params = false
    elseif t.t == "name" and t.v == name then
      local p = toks[k - 1]
      if in_params or (p and p.t == "kw" and (p.v == "local" or p.v == "for")) then
        return true
      end
      if p and p.t == "op" and p.v == "," then
        -- `local a, data` / `for k, data in`: look back for local/for on the same list
        for j = k - 2, 1, -1 do
          local q = toks[j]
          if q.t == "kw" and (q.v == "local" or q.v == "for") then
            return true
          end
          if not (q.t == "name" or (q.t == "op" and q.v == ",")) then
            break
          end
        end
      end
    end
  end
  return false
end

--- Rewrites the free uses of `name` (default "data") in `src` for the tape:
-- `data.a.b` -> `JG(JT(data, "a"), "b")`, `data[1]` -> `JG(data, 1)`, bare `data` -> `JM(data)`.
-- With `as_token`, chains end in `JT` and bare `data` stays the token (payload_path selection).
-- @return the new source, or nil when `name` is rebound inside (the caller materializes instead)
-- helpers whose one argument, a path into the frame, is read from the tape by a reader of its
-- own (feedhost.spec.tape): `ts(data.t)` -> `_JTS(data, "t", ts)`
local TAPE_CALLS = { ts = "_JTS", str = "_JSTR" }

function M.rewrite_tape(src, as_token, name)
  name = name or "data"
  local toks = assert(M.lex(src))
  if rebinds(toks, name) then
    return nil
  end
  local out, pos, k = {}, 1, 1
  while k <= #toks do
    local t = toks[k]
    local prev = toks[k - 1]
    local nxt = toks[k + 1]
    local is_field = prev and prev.t == "op" and (prev.v == "." or prev.v == ":")
    local is_key = nxt and nxt.t == "op" and nxt.v == "="
      and prev and prev.t == "op" and (prev.v == "{" or prev.v == "," or prev.v == ";")
    if t.t == "name" and t.v == name and not is_field and not is_key then
      local keys = {}
      local j = k + 1
      while true do
        local a, b, c = toks[j], toks[j + 1], toks[j + 2]
        if a and a.t == "op" and a.v == "." and b and b.t == "name" then
          keys[#keys + 1] = string.format("%q", b.v)
          j = j + 2
        elseif a and a.t == "op" and a.v == "[" and b and c and c.t == "op" and c.v == "]"
          and literal_key(b) then
          keys[#keys + 1] = literal_key(b)
          j = j + 3
        else
          break
        end
      end
      local code
      -- `ts(data.a.b)`: parse the timestamp in C from the frame bytes, no Lua string;
      -- `str(data.a.b)`: an integer as the digits written (exact past 2^53)
      local t1, t2, close = toks[k - 1], toks[k - 2], toks[j]
      local t3 = toks[k - 3]
      local reader = t2 and t2.t == "name" and TAPE_CALLS[t2.v]
      if not as_token and #keys >= 1 and t1 and t1.t == "op" and t1.v == "(" and reader
        and not (t3 and t3.t == "op" and (t3.v == "." or t3.v == ":"))
        and close and close.t == "op" and close.v == ")" and t2.s >= pos then
        local parent = name
        for q = 1, #keys - 1 do
          parent = "_JT(" .. parent .. ", " .. keys[q] .. ")"
        end
        out[#out + 1] = src:sub(pos, t2.s - 1)
        out[#out + 1] = reader .. "(" .. parent .. ", " .. keys[#keys] .. ", " .. t2.v .. ")"
        pos = close.e + 1
        k = j + 1
        goto continue
      end
      -- `data.a.b == "lit"` / `~=`: compare in C, no Lua string (only where no neighbouring
      -- operator binds tighter than the comparison)
      local cmp, lit, after = toks[j], toks[j + 1], toks[j + 2]
      local before = toks[k - 1]
      local safe_before = before == nil or (before.t == "op" and (before.v == "(" or before.v == ","
        or before.v == "{" or before.v == "=")) or (before.t == "kw" and (before.v == "and"
        or before.v == "or" or before.v == "return" or before.v == "then" or before.v == "else"))
      local safe_after = after == nil or (after.t == "op" and (after.v == ")" or after.v == ","
        or after.v == "}")) or (after.t == "kw" and (after.v == "and" or after.v == "or"
        or after.v == "then" or after.v == "else" or after.v == "end"))
      if not as_token and #keys >= 1 and keys[#keys]:sub(1, 1) == '"' and cmp and cmp.t == "op"
        and (cmp.v == "==" or cmp.v == "~=") and lit and lit.t == "str" and literal_key(lit)
        and safe_before and safe_after then
        local parent = name
        for q = 1, #keys - 1 do
          parent = "_JT(" .. parent .. ", " .. keys[q] .. ")"
        end
        out[#out + 1] = src:sub(pos, t.s - 1)
        out[#out + 1] = (cmp.v == "~=" and "not " or "") .. "_JEQ(" .. parent .. ", " .. keys[#keys]
          .. ", " .. literal_key(lit) .. ")"
        pos = lit.e + 1
        k = j + 2
        goto continue
      end
      if #keys == 0 and not as_token and name ~= "data" and cmp and cmp.t == "op"
        and (cmp.v == "==" or cmp.v == "~=") and lit and lit.t == "str" and literal_key(lit)
        and safe_before and safe_after then
        -- `name == "lit"` of a token value (a fan-out value): compared in C, no Lua string
        out[#out + 1] = src:sub(pos, t.s - 1)
        out[#out + 1] = (cmp.v == "~=" and "not " or "") .. "_JEQT(" .. name .. ", " .. literal_key(lit) .. ")"
        pos = lit.e + 1
        k = j + 2
        goto continue
      end
      if #keys == 0 then
        code = as_token and name or ("_JM(" .. name .. ")")
      else
        code = name
        for q = 1, #keys do
          local fn = (q == #keys and not as_token) and "_JG" or "_JT"
          code = fn .. "(" .. code .. ", " .. keys[q] .. ")"
        end
      end
      out[#out + 1] = src:sub(pos, t.s - 1)
      out[#out + 1] = code
      pos = toks[j - 1].e + 1
      k = j
    else
      k = k + 1
    end
    ::continue::
  end
  out[#out + 1] = src:sub(pos)
  return table.concat(out)
end

--- Whether an expression only selects among `data` chains (`data.payload or data`): then it
-- can run on tape tokens and yield a token.
function M.is_selection(src, name)
  name = name or "data"
  local toks = M.lex(src)
  if not toks then
    return false
  end
  local k = 1
  while k <= #toks do
    local t = toks[k]
    if t.t == "name" and t.v == name then
      k = k + 1
      while toks[k] and toks[k].t == "op" and (toks[k].v == "." or toks[k].v == "[") do
        if toks[k].v == "." then
          if not (toks[k + 1] and toks[k + 1].t == "name") then
            return false
          end
          k = k + 2
        else
          if not (toks[k + 1] and literal_key(toks[k + 1]) and toks[k + 2] and toks[k + 2].v == "]") then
            return false
          end
          k = k + 3
        end
      end
    elseif (t.t == "kw" and (t.v == "or" or t.v == "and")) or (t.t == "op" and (t.v == "(" or t.v == ")")) then
      k = k + 1
    else
      return false
    end
  end
  return true
end

return M
