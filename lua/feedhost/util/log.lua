--- Logger: levels, per-key rate limiting, truncated samples, secret redaction.
---
--- Line format: `2026-11-27T02:11:14.123Z WARN [prefix] message`. Every line written (children
--- included) is scanned for registered secrets, which are replaced by `***`.
local clock = require("feedhost.sys.clock")

local M = {}

local type, tostring, select, pcall, error = type, tostring, select, pcall, error
local setmetatable, ipairs = setmetatable, ipairs
local byte, find, format, gsub, sub = string.byte, string.find, string.format, string.gsub, string.sub
local floor = math.floor
local sort, concat = table.sort, table.concat

--- Level numbers; `none` silences everything.
M.levels = { debug = 1, info = 2, warning = 3, error = 4, none = 5 }
local LEVELS = M.levels
local ALIASES = { warn = "warning", err = "error" }
local NAMES = { "DEBUG", "INFO", "WARN", "ERROR" }
local LEVEL_KEYS = { "debug", "info", "warning", "error" }

M.sample_max = 200

local function level_number(level)
  local name = ALIASES[level] or level
  local n = LEVELS[name]
  if not n then
    error("log: unknown level " .. tostring(level) .. " (debug, info, warning, error, none)", 3)
  end
  return n
end

-- Control characters (tab kept in messages) as \n, \r, \t, \xHH.
local ctl_escapes = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
for i = 0, 31 do
  local c = string.char(i)
  ctl_escapes[c] = ctl_escapes[c] or format("\\x%02x", i)
end
ctl_escapes["\127"] = "\\x7f"

-- Bytes that are not valid UTF-8 as \xHH, so every line written is UTF-8 whatever a peer sent.
local function escape_invalid(s)
  if not find(s, "[\128-\255]") then
    return s
  end
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = byte(s, i)
    local len = c < 0x80 and 1 or c >= 0xC2 and c <= 0xDF and 2 or c >= 0xE0 and c <= 0xEF and 3
      or c >= 0xF0 and c <= 0xF4 and 4 or 0
    local ok = len > 0 and i + len - 1 <= n
    for k = 1, len - 1 do
      local b = ok and byte(s, i + k)
      ok = ok and b >= 0x80 and b <= 0xBF
    end
    if ok and len == 3 then   -- no overlong forms, no surrogates
      local b = byte(s, i + 1)
      ok = not (c == 0xE0 and b < 0xA0) and not (c == 0xED and b > 0x9F)
    elseif ok and len == 4 then
      local b = byte(s, i + 1)
      ok = not (c == 0xF0 and b < 0x90) and not (c == 0xF4 and b > 0x8F)
    end
    if ok then
      out[#out + 1] = sub(s, i, i + len - 1)
      i = i + len
    else
      out[#out + 1] = format("\\x%02x", c)
      i = i + 1
    end
  end
  return concat(out)
end

local function escape_message(s)
  if find(s, "[%z\1-\8\10-\31\127]") then
    s = gsub(s, "[%z\1-\8\10-\31\127]", ctl_escapes)
  end
  return escape_invalid(s)
end

local function escape_sample(s)
  if find(s, "[%z\1-\31\127]") then
    s = gsub(s, "[%z\1-\31\127]", ctl_escapes)
  end
  return escape_invalid(s)
end

local function redact(shared, s)
  local secrets = shared.secrets
  for i = 1, #secrets do
    local sec = secrets[i]
    if find(s, sec, 1, true) then
      s = gsub(s, shared.patterns[sec], "***")
    end
  end
  return s
end

-- Percent-encoding as in a URL query (RFC 3986 unreserved characters kept).
local function url_escape(s)
  return (gsub(s, "[^%w%-%._~]", function(c)
    return format("%%%02X", byte(c))
  end))
end

--- Sample text for a log line: secrets redacted, cut to `max` bytes (not inside a UTF-8
--- sequence) with `…(+N bytes)`, control characters escaped.
---@param shared table|nil logger state (for secrets) or nil
---@param sample any
---@param max number|nil
---@return string
local function format_sample(shared, sample, max)
  max = max or M.sample_max
  local s = type(sample) == "string" and sample or tostring(sample)
  if shared then
    s = redact(shared, s)
  end
  local n = #s
  local tail = ""
  if n > max then
    local cut = max
    while cut > 0 do
      local b = byte(s, cut + 1)
      if b < 0x80 or b >= 0xC0 then -- the next byte starts a character
        break
      end
      cut = cut - 1
    end
    tail = "…(+" .. (n - cut) .. " bytes)"
    s = sub(s, 1, cut)
  end
  return escape_sample(s) .. tail
end
M.format_sample = format_sample

local function default_sink(line)
  io.stderr:write(line, "\n")
end

local function realtime()
  return tonumber(clock.now_ns()) / 1e9
end

local monotonic = clock.mono

local Logger = {}
Logger.__index = Logger

local function stamp(shared)
  local t = shared.clock()
  local sec = floor(t)
  local ms = floor((t - sec) * 1000 + 1e-3) -- 1 us nudge against float error
  if ms > 999 then
    ms = 999
  end
  if sec ~= shared.stamp_sec then
    shared.stamp_sec = sec
    shared.stamp_text = os.date("!%Y-%m-%dT%H:%M:%S", sec)
  end
  return format("%s.%03dZ", shared.stamp_text, ms)
end

local function emit(self, lvl, text)
  local shared = self._s
  text = escape_message(redact(shared, text))
  local line = stamp(shared) .. " " .. NAMES[lvl] .. " " .. self._tag .. text
  line = redact(shared, line)
  shared.written[LEVEL_KEYS[lvl]] = shared.written[LEVEL_KEYS[lvl]] + 1
  pcall(shared.sink, line) -- a failing sink never stops the host
end

local function render(msg, ...)
  msg = type(msg) == "string" and msg or tostring(msg)
  if select("#", ...) == 0 then
    return msg
  end
  local ok, s = pcall(format, msg, ...)
  if ok then
    return s
  end
  local parts = { msg }
  for i = 1, select("#", ...) do
    parts[#parts + 1] = tostring((select(i, ...)))
  end
  return concat(parts, " ")
end

--- Writes `msg` (formatted with `string.format` when arguments follow) at `level`.
---@param level string
---@param msg any
---@return boolean written
function Logger:log(level, msg, ...)
  local lvl = level_number(level)
  if lvl < self._s.level then
    return false
  end
  emit(self, lvl, render(msg, ...))
  return true
end

function Logger:debug(msg, ...)
  if self._s.level > 1 then
    return false
  end
  emit(self, 1, render(msg, ...))
  return true
end

function Logger:info(msg, ...)
  if self._s.level > 2 then
    return false
  end
  emit(self, 2, render(msg, ...))
  return true
end

function Logger:warning(msg, ...)
  if self._s.level > 3 then
    return false
  end
  emit(self, 3, render(msg, ...))
  return true
end
Logger.warn = Logger.warning

function Logger:error(msg, ...)
  if self._s.level > 4 then
    return false
  end
  emit(self, 4, render(msg, ...))
  return true
end

--- A rate-limited line: at most `burst` lines per `window` seconds for `key` (per logger
--- prefix). The first line let through after suppression ends with ` (+N suppressed)`.
--- `sample` is appended after ` | `, redacted, truncated and escaped.
---@param level string
---@param key any
---@param msg any
---@param sample any
---@return boolean written
function Logger:event(level, key, msg, sample)
  local shared = self._s
  local lvl = level_number(level)
  if lvl < shared.level then
    return false
  end
  msg = type(msg) == "string" and msg or tostring(msg)
  key = self._tag .. tostring(key == nil and msg or key)
  local now = shared.limiter_clock()
  local keys = shared.keys
  local st = keys[key]
  if not st then
    if shared.nkeys >= shared.max_keys then -- bound the memory: forget every key
      keys = {}
      shared.keys = keys
      shared.nkeys = 0
    end
    st = { n = 0, i = 1, suppressed = 0 }
    keys[key] = st
    shared.nkeys = shared.nkeys + 1
  end
  local burst = shared.burst
  if st.n < burst then
    st.n = st.n + 1
    st[st.n] = now
  elseif now - st[st.i] >= shared.window then -- st[st.i] is the oldest of the last `burst`
    st[st.i] = now
    st.i = st.i % burst + 1
  else
    st.suppressed = st.suppressed + 1
    local name = LEVEL_KEYS[lvl]
    shared.suppressed[name] = shared.suppressed[name] + 1
    return false
  end
  local text = msg
  if sample ~= nil then
    text = text .. " | " .. format_sample(shared, sample)
  end
  if st.suppressed > 0 then
    text = text .. " (+" .. st.suppressed .. " suppressed)"
    st.suppressed = 0
  end
  emit(self, lvl, text)
  return true
end

-- The forms a secret takes inside a JSON string: as our encoder writes it, with "/" escaped,
-- and with every non-ASCII character as \uXXXX (lower and upper case hex), as other encoders do.
local function json_forms(s)
  local json = require("feedhost.util.json")
  local enc = sub(json.encode_string(s), 2, -2)
  local forms = { enc, (gsub(enc, "/", "\\/")) }
  if find(s, "[\128-\255]") then
    local u = {}
    local i, n = 1, #s
    while i <= n do
      local c = byte(s, i)
      local cp, len = c, 1
      if c >= 0xF0 then cp, len = c % 8, 4
      elseif c >= 0xE0 then cp, len = c % 16, 3
      elseif c >= 0xC0 then cp, len = c % 32, 2 end
      for k = 1, len - 1 do
        cp = cp * 64 + (byte(s, i + k) or 0x80) % 64
      end
      if cp < 0x80 then
        u[#u + 1] = sub(json.encode_string(sub(s, i, i)), 2, -2)
      elseif cp < 0x10000 then
        u[#u + 1] = format("\\u%04x", cp)
      else
        cp = cp - 0x10000
        u[#u + 1] = format("\\u%04x\\u%04x", 0xD800 + floor(cp / 1024), 0xDC00 + cp % 1024)
      end
      i = i + len
    end
    local lower = concat(u)
    forms[#forms + 1] = lower
    forms[#forms + 1] = (gsub(lower, "\\u(%x%x%x%x)", function(h) return "\\u" .. h:upper() end))
  end
  return forms
end

--- Registers a secret: every occurrence in a line (raw, URL-encoded, or as written inside a JSON
--- string) becomes `***`. Strings shorter than 3 bytes are ignored.
---@param s string
---@return boolean added
function Logger:add_secret(s)
  if type(s) ~= "string" or #s < 3 then
    return false
  end
  local shared = self._s
  local added = false
  local forms = json_forms(s)
  table.insert(forms, 1, url_escape(s))
  table.insert(forms, 1, s)
  for _, v in ipairs(forms) do
    if not shared.patterns[v] then
      shared.patterns[v] = gsub(v, "[%^%$%(%)%%%.%[%]%*%+%-%?%z]", function(c)
        return c == "\0" and "%z" or "%" .. c
      end)
      shared.secrets[#shared.secrets + 1] = v
      added = true
    end
  end
  -- Longest first, so a secret containing another is masked whole.
  sort(shared.secrets, function(a, b)
    if #a ~= #b then
      return #a > #b
    end
    return a < b
  end)
  return added
end

--- `s` with every registered secret replaced by `***` (what a log line gets).
function Logger:redact(s)
  return redact(self._s, s)
end

--- A logger writing `[prefix] ` lines through the same sink, level, limiter and secrets
--- (rate-limit keys are scoped by the prefix).
---@param prefix string
function Logger:child(prefix)
  return setmetatable({ _s = self._s, _tag = self._tag .. "[" .. tostring(prefix) .. "] " }, Logger)
end

--- Sets the level shared by this logger and its relatives.
function Logger:set_level(level)
  self._s.level = level_number(level)
end

--- True when a line at `level` would be written.
function Logger:enabled(level)
  return level_number(level) >= self._s.level
end

--- Lines written and suppressed per level: `{written = {debug=, info=, warning=, error=},
--- suppressed = {...}}` (copies; shared by the logger and its children).
function Logger:counts()
  local w, s = {}, {}
  for _, k in ipairs(LEVEL_KEYS) do
    w[k] = self._s.written[k]
    s[k] = self._s.suppressed[k]
  end
  return { written = w, suppressed = s }
end

--- A new logger.
--- opts.level ("info"), opts.sink (function(line); default: stderr), opts.clock (function() ->
--- seconds, used for timestamps and the limiter; default: realtime stamps, monotonic limiter),
--- opts.burst (5) lines per opts.window (10) seconds per event key, opts.max_keys (10000).
---@param opts table|nil
function M.new(opts)
  opts = opts or {}
  local shared = {
    level = level_number(opts.level or "info"),
    sink = opts.sink or default_sink,
    clock = opts.clock or realtime,
    limiter_clock = opts.clock or monotonic,
    burst = opts.burst or 5,
    window = opts.window or 10,
    max_keys = opts.max_keys or 10000,
    keys = {},
    nkeys = 0,
    secrets = {},
    patterns = {},
    written = { debug = 0, info = 0, warning = 0, error = 0 },
    suppressed = { debug = 0, info = 0, warning = 0, error = 0 },
  }
  if shared.burst < 1 then
    error("log: burst must be >= 1", 2)
  end
  return setmetatable({ _s = shared, _tag = "" }, Logger)
end

return M
