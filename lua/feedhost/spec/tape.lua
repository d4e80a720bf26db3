--- feedhost.spec.tape: reading JSON frames through the C tape (host/codec/json_tape.h).
--
-- A reader owns one tape. `parse` tokenizes a frame in C; the accessors then read just the
-- members an expression names, straight from the frame's bytes, so the common path builds no
-- Lua table per message. Tokens are 0-based integers (the root is 0). `mat` builds the Lua
-- value of a whole subtree (what lua-cjson would have returned) for the rare expression that
-- needs `data` itself.
local ffi = require("ffi")
local sys = require("feedhost.sys.ffi")

local api, C = sys.api, sys.C
local ffi_string = ffi.string
local J_OBJ, J_ARR, J_STR, J_NUM, J_TRUE, J_FALSE, J_NULL = C.FH_J_OBJ, C.FH_J_ARR, C.FH_J_STR, C.FH_J_NUM,
  C.FH_J_TRUE, C.FH_J_FALSE, C.FH_J_NULL
local JF_ESC = C.FH_JF_ESC
local type, error, byte = type, error, string.byte
local KEYSET_MAX = C.FH_KEYSET_MAX

local M = {}

local ERRORS = { [C.FH_JSON_ESYNTAX] = "invalid JSON", [C.FH_JSON_ENOSPACE] = "too many tokens",
  [C.FH_JSON_EDEPTH] = "nesting too deep", [C.FH_JSON_ETOOBIG] = "frame too large" }
local ENOSPACE, ESYNTAX = C.FH_JSON_ENOSPACE, C.FH_JSON_ESYNTAX

local json_mod
local function json()
  json_mod = json_mod or require("feedhost.util.json")
  return json_mod
end

--- A new reader. `max_tokens` bounds the tape (default 1M tokens).
function M.new(max_tokens)
  max_tokens = max_tokens or 1048576
  local cap = 4096
  local T = ffi.new("fh_jtok[?]", cap)
  -- the current frame, boxed: a pointer kept in an upvalue would be a new cdata every frame
  local BB = ffi.new("const char *[1]")
  local err_off = ffi.new("int[1]")
  local ubuf, ucap = ffi.new("char[?]", 256), 256
  -- Member names read with a literal key get a slot in KS (on first use); the first lookup on an
  -- object finds all of them in one pass (api.json_keys) into SLOTS, and the lookups that follow
  -- on the same object are array reads. `cur` is that object (-1: none, e.g. after a parse).
  local KS = ffi.new("fh_keyset")
  local SLOTS = ffi.new("int32_t[?]", KEYSET_MAX)
  local KEYSLOT = {}          -- name -> slot, or false when the set had no room for it
  local cur = -1
  local R = {}

  --- Tokenizes `len` bytes at `ptr`. @return 0 (the root token), or nil, message, byte offset
  local function grow_and_parse(ptr, len, n)
    while n == ENOSPACE and cap < max_tokens do
      cap = math.min(cap * 4, max_tokens)
      T = ffi.new("fh_jtok[?]", cap)
      n = api.json_parse(ptr, len, T, cap, err_off)
    end
    if n > 0 then
      return 0
    end
    return nil, ERRORS[n] or "invalid JSON", n == ESYNTAX and err_off[0] or nil
  end

  function R.parse(ptr, len)
    BB[0] = ptr
    cur = -1
    local n = api.json_parse(ptr, len, T, cap, err_off)
    if n > 0 then
      return 0
    end
    return grow_and_parse(ptr, len, n)
  end

  local function str(i)
    local t = T[i]
    if t.flags == 0 then
      return ffi_string(BB[0] + t.start, t.len)
    end
    if t.len > ucap then
      ucap = t.len * 2
      ubuf = ffi.new("char[?]", ucap)
    end
    local n = api.json_unescape(BB[0] + t.start, t.len, ubuf)
    return ffi_string(ubuf, n)
  end
  R.str = str

  local mat
  --- The Lua value of token i: a scalar, or a table built from the subtree.
  local function value(i)
    local ty = T[i].type
    if ty == J_STR then
      return str(i)
    elseif ty == J_NUM then
      return T[i].num
    elseif ty == J_TRUE then
      return true
    elseif ty == J_FALSE then
      return false
    elseif ty == J_OBJ or ty == J_ARR then
      return mat(i)
    end
    return nil
  end
  R.value = value

  mat = function(i)
    local t = T[i]
    local n = t.len
    local J = json()
    if t.type == J_OBJ then
      local o = {}
      local k = i + 1
      for _ = 1, n do
        local v = value(k + 1)
        if v ~= nil then
          o[str(k)] = v
        end
        k = T[k + 1].next
      end
      if n == 0 then
        setmetatable(o, J.object_mt)
      end
      return o
    elseif t.type == J_ARR then
      local a = setmetatable({}, J.array_mt)
      local k = i + 1
      for j = 1, n do
        local v = value(k)
        if v == nil then
          v = J.null
        end
        a[j] = v
        k = T[k].next
      end
      return a
    end
    return value(i)
  end

  --- Materializes token i (nil stays nil).
  function R.mat(i)
    if i == nil then
      return nil
    end
    return mat(i)
  end

  local function add_key(k)
    local slot = api.keyset_add(KS, k, #k)
    if slot < 0 then
      KEYSLOT[k] = false
      return false
    end
    KEYSLOT[k] = slot
    cur = -1 -- the new slot is not filled for the current object
    return slot
  end

  -- Token index of member `k` (string) or element `k` (number, 1-based) of `e`, or -1.
  -- Indexing a missing parent raises, as indexing nil does in Lua (`level`: the caller to blame).
  local function find(e, k, level)
    if e == nil then
      error("attempt to index a nil value", level + 1)
    end
    if type(k) == "number" then
      return api.json_index(T, e, k - 1)
    end
    local slot = KEYSLOT[k]
    if slot == nil then
      slot = add_key(k)
    end
    if slot then
      if e ~= cur then
        api.json_keys(T, BB[0], e, KS, SLOTS)
        cur = e
      end
      return SLOTS[slot]
    end
    return api.json_find(T, BB[0], e, k, #k)
  end

  --- Token of member or element `k` of container `e`, or nil.
  function R.tok(e, k)
    local r = find(e, k, 2)
    if r < 0 or T[r].type == J_NULL then -- JSON null reads as nil
      return nil
    end
    return r
  end

  --- Value of member or element `k` of container `e` (nil when absent or null).
  function R.get(e, k)
    local r = find(e, k, 2)
    if r < 0 then
      return nil
    end
    return value(r)
  end

  --- `ts` of member `k` of `e`: ISO strings parsed in C straight from the frame; anything
  --- else (numbers, escapes, odd forms, errors) goes to the Lua helper `slow_ts`.
  local ts_out = ffi.new("int64_t[1]")
  local ts_cache = ffi.new("fh_ts_cache")
  function R.ts(e, k, slow_ts)
    local r = find(e, k, 2)
    if r >= 0 then
      if api.json_ts(T, BB[0], r, ts_cache, ts_out) == 0 then
        return ts_out[0]
      end
      local t = T[r]
      if t.type == J_NUM then   -- the digits as written: exact, not through a double
        return slow_ts(ffi_string(BB[0] + t.start, t.len))
      end
      return slow_ts(value(r))
    end
    return slow_ts(nil)
  end

  --- Member `key` (pre-encoded, `"bid":`) of the NDJSON line being built in `out` (an fh_out *)
  --- from `num` of member `k` of `e`, when that member is a finite JSON number: its digits as
  --- written when they are what the encoder writes (a price), else its double. @return true
  --- written; false when the member is anything else (the caller takes the general path).
  function R.out_num(e, k, out, key)
    local r = find(e, k, 2)
    -- a string (Binance's, Kraken's prices) goes to the general path without a call into C
    return r >= 0 and T[r].type == J_NUM and api.out_jnum(out, key, #key, T, r, BB[0]) == 1
  end

  --- `str` of member `k` of `e`: an integer number as the digits written (exact past 2^53: a
  --- 64-bit id stays itself); anything else through the Lua helper `slow_str`.
  function R.str_of(e, k, slow_str)
    local r = find(e, k, 2)
    if r < 0 then
      return slow_str(nil)
    end
    local t = T[r]
    if t.type == J_NUM and t.len > 15 then   -- shorter integers are exact as doubles anyway
      local s = ffi_string(BB[0] + t.start, t.len)
      if not s:find("[.eE]") then
        return s
      end
    end
    return slow_str(value(r))
  end

  --- Whether member `k` (a string key) of `e` is the string `lit`. A one-byte literal is
  --- compared here; longer ones of the same length in C.
  -- whether token r (an index, -1 for none) is the string `lit`
  local function tok_eq(r, lit)
    if r < 0 then
      return false
    end
    local t = T[r]
    if t.type ~= J_STR then
      return false
    end
    local n = #lit
    if t.flags == 0 then
      if t.len ~= n then
        return false
      end
      if n == 1 then
        local b = byte(lit)
        if b > 127 then
          b = b - 256 -- bytes read through a (signed) char
        end
        return BB[0][t.start] == b
      end
    end
    return api.json_str_eq(T, BB[0], r, lit, n) == 1
  end

  function R.eq(e, k, lit)
    return tok_eq(find(e, k, 2), lit)
  end

  --- Whether token `t` (or nil) is the string `lit`: `name == 'lit'` of a fan-out value.
  function R.eqt(t, lit)
    return t ~= nil and tok_eq(t, lit)
  end

  function R.tape() return T end
  function R.type(i) return T[i].type end
  function R.len(i) return T[i].len end
  function R.next(i) return T[i].next end
  function R.is_array(i) return i ~= nil and T[i].type == J_ARR end
  function R.is_object(i) return i ~= nil and T[i].type == J_OBJ end
  return R
end

M.J_OBJ, M.J_ARR, M.J_STR = J_OBJ, J_ARR, J_STR
return M
