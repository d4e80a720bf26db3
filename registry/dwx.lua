--- Registry functions for the Darwinex DWX ZeroMQ connector (specs/dwx.lua, PROTOCOLS.md 10).
--
-- `dwx_decode(s, ctx)` reads one message of the EA:
--   prices on the PUB socket    "EURUSD:|:1.085210;1.085230"            -> { kind = "tick", ... }
--   rates on the PUB socket     "EURUSD_M1:|:1612345620;o;h;l;c;tv;spread;rv"  -> { kind = "bar", ... }
--   replies on the PUSH socket  "{'_action': 'heartbeat', ...}"         -> the dict as a table
-- A price and a rate are told apart by their number of fields (2 and 8), as the EA's own client
-- does: a SUB prefix "EURUSD" also receives "EURUSD_M1". Replies are Python literals, not JSON
-- (single quotes, True/False/None, dicts keyed by bare integers): `py_literal` reads them.
local M = {}

local TIMEFRAMES = { M1 = 60, M5 = 300, M15 = 900, M30 = 1800, H1 = 3600, H4 = 14400, D1 = 86400,
  W1 = 604800, MN1 = 2592000 }

-- ---- Python literals -------------------------------------------------------------------------
local ESCAPES = { n = "\n", t = "\t", r = "\r", ["\\"] = "\\", ["'"] = "'", ['"'] = '"', ["0"] = "\0" }
local CONSTANTS = { True = true, False = false, None = nil }

local parse_value

local function skip(s, i)
  return s:find("[^%s]", i) or #s + 1
end

local function fail(s, i, what)
  error(string.format("not a Python literal: %s at byte %d", what, i), 0)
end

local function parse_string(s, i)
  local q = s:sub(i, i)
  local out, j = {}, i + 1
  while true do
    local c = s:sub(j, j)
    if c == "" then
      fail(s, i, "unterminated string")
    elseif c == q then
      return table.concat(out), j + 1
    elseif c == "\\" then
      local e = s:sub(j + 1, j + 1)
      out[#out + 1] = ESCAPES[e] or ("\\" .. e)
      j = j + 2
    else
      local k = s:find("[\\" .. q .. "]", j) or #s + 1
      out[#out + 1] = s:sub(j, k - 1)
      j = k
    end
  end
end

-- items of a dict, list or tuple up to `close`; `pair`: dict entries key: value
local function parse_items(s, i, close, pair)
  local t, n = {}, 0
  i = skip(s, i)
  while s:sub(i, i) ~= close do
    local k, v
    k, i = parse_value(s, i)
    if pair then
      i = skip(s, i)
      if s:sub(i, i) ~= ":" then
        fail(s, i, "':' expected")
      end
      v, i = parse_value(s, i + 1)
      if k == nil then
        fail(s, i, "None as a key")
      end
      t[k] = v
    else
      n = n + 1
      t[n] = k
    end
    i = skip(s, i)
    local c = s:sub(i, i)
    if c == "," then
      i = skip(s, i + 1)
    elseif c ~= close then
      fail(s, i, "',' or '" .. close .. "' expected")
    end
  end
  return t, i + 1
end

function parse_value(s, i)
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    return parse_items(s, i + 1, "}", true)
  elseif c == "[" then
    return parse_items(s, i + 1, "]", false)
  elseif c == "(" then
    return parse_items(s, i + 1, ")", false)
  elseif c == "'" or c == '"' then
    return parse_string(s, i)
  end
  local word = s:match("^[%a_][%w_]*", i)
  if word then
    if CONSTANTS[word] == nil and word ~= "None" then
      fail(s, i, "unknown name '" .. word .. "'")
    end
    return CONSTANTS[word], i + #word
  end
  local num = s:match("^[-+]?%d*%.?%d+[eE][-+]?%d+", i) or s:match("^[-+]?%d*%.?%d+%.?", i)
  if num and tonumber(num) then
    return tonumber(num), i + #num
  end
  fail(s, i, "unexpected '" .. c .. "'")
end

--- A Python literal (dict, list, tuple, str, int, float, True, False, None) as a Lua value:
-- dicts and lists become tables (None values leave their key out). @return value, or nil, message
function M.py_literal(s)
  local ok, v, i = pcall(parse_value, s, 1)
  if not ok then
    return nil, v
  end
  if skip(s, i) <= #s then
    return nil, "not a Python literal: trailing text at byte " .. i
  end
  return v
end

-- ---- the EA's messages ----------------------------------------------------------------------
--- One message of the EA as a table (see the top). @return table, or nil, message
function M.dwx_decode(s)
  if s:find("^%s*{") then
    local v, err = M.py_literal(s)
    if type(v) ~= "table" then
      return nil, err or "a DWX reply is a dict"
    end
    return v
  end
  local topic, body = s:match("^(.-):|:(.*)$")
  if not topic then
    return nil, "not a DWX message (no ':|:')"
  end
  local f = {}
  for x in (body .. ";"):gmatch("([^;]*);") do
    f[#f + 1] = x
  end
  if #f == 2 then
    return { kind = "tick", symbol = topic, bid = f[1], ask = f[2] }
  elseif #f == 8 then
    local symbol, tf = topic:match("^(.+)_(%u+%d+)$")
    if not symbol or not TIMEFRAMES[tf] then
      return nil, "a DWX rate topic is SYMBOL_TIMEFRAME (M1, H1, D1...), got '" .. topic .. "'"
    end
    return { kind = "bar", symbol = symbol, timeframe = tf, interval = TIMEFRAMES[tf],
      time = f[1], open = f[2], high = f[3], low = f[4], close = f[5], tick_volume = f[6],
      spread = f[7], real_volume = f[8] }
  end
  return nil, string.format("a DWX message has 2 fields (bid;ask) or 8 (a bar), got %d", #f)
end

--- MetaTrader's time text "2019.06.06 11:08:20" as ISO 8601 (taken as UTC: the EA sends the
-- trade server's clock without its zone), for ts(). @return string, or nil
function M.dwx_time(s)
  local y, mo, d, h, mi, sec = tostring(s):match("^(%d%d%d%d)%.(%d%d)%.(%d%d) (%d%d):(%d%d):?(%d*)$")
  if not y then
    return nil
  end
  return string.format("%s-%s-%sT%s:%s:%sZ", y, mo, d, h, mi, sec ~= "" and sec or "00")
end

return M
