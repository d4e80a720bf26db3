--- feedhost.runtime.replay: feeding captured frames (DESIGN.md section 5 capture format) to pipelines.
-- Capture lines are read through the C tape too: the `text` member is unescaped straight into
-- the batch, `binary` base64-decoded there, so a frame is copied once. A `topic` member (an MQTT
-- or ZeroMQ topic, as --record writes it) goes with the frame as its metadata: `topic` in the
-- spec's context, as it was live.
local ffi = require("ffi")
local sys = require("feedhost.sys.ffi")
local tape = require("feedhost.spec.tape")
local watch = require("feedhost.sys.watch")

local api, C = sys.api, sys.C
local M = {}

local BATCH_FRAMES = 256

--- Feeds every "in" frame of capture text `src` to `compiled` (feedhost.spec.compile result).
-- opts: { connection = name (only that one), default_ts = int64, stop = fn() -> true to end early,
--         budget = seconds a batch may take (default feedhost.sys.watch's; false: none) }
-- @return summary { lines, frames, skipped, unknown_connections = {name = n}, bad_lines = n,
--         bad_samples = {...}, seen = {name = n}: frames of other connections than opts.connection }
function M.run(compiled, src, opts)
  opts = opts or {}
  local reader = tape.new()
  local batch = sys.batch(1048576, BATCH_FRAMES)
  local slots, by_slot = {}, {}
  for i, name in ipairs(compiled.order) do
    slots[name] = i
    by_slot[i] = compiled.connections[name]
  end
  local summary = { lines = 0, frames = 0, skipped = 0, unknown_connections = {}, bad_lines = 0,
    bad_samples = {}, seen = {} }
  local current = nil
  -- spec code that never returns is stopped by the watchdog (budget per batch)
  local w = opts.budget ~= false and watch.new(nil, opts.budget) or nil
  local function flush()
    if batch.n > 0 then
      local c = by_slot[current]
      if c and c.pipeline then
        watch.enter(w)
        c.pipeline.run(batch)
        watch.leave(w)
      end
      api.batch_clear(batch)
    end
  end
  local function bad(line, why)
    summary.bad_lines = summary.bad_lines + 1
    if #summary.bad_samples < 5 then
      summary.bad_samples[#summary.bad_samples + 1] = "line " .. summary.lines .. ": " .. why
    end
  end
  local G = reader.get
  -- the slot of a capture line's connection, or nil (skipped or unknown: counted)
  local function slot_of(root)
    local name = G(root, "connection")
    if (G(root, "dir") or "in") ~= "in" then
      summary.skipped = summary.skipped + 1
      return nil
    end
    if opts.connection and name ~= opts.connection then
      -- counted by name: a --connection that matches no frame says what the capture has
      local k = tostring(name)
      summary.skipped = summary.skipped + 1
      summary.seen[k] = (summary.seen[k] or 0) + 1
      return nil
    end
    local slot = slots[name]
    if name == nil and #compiled.order == 1 then
      slot = 1
    end
    if not slot then
      local k = tostring(name)
      summary.unknown_connections[k] = (summary.unknown_connections[k] or 0) + 1
    end
    return slot
  end
  -- the receive time of a capture line (int64 ns)
  local function ts_of(root, p)
    local tsv = G(root, "ts")
    if type(tsv) == "number" then
      -- integer ns may exceed 2^53: take the digits, not the double
      return M.int_token(reader, p, reader.tok(root, "ts")) or opts.default_ts or 0LL
    elseif type(tsv) == "string" and tsv:match("^%d+$") then
      return M.parse_int64(tsv)
    end
    return opts.default_ts or 0LL
  end
  local function take(line)
    local p = ffi.cast("const char *", line)
    local root, perr = reader.parse(p, #line)
    if root == nil or reader.type(root) ~= tape.J_OBJ then
      return bad(line, perr or "not a JSON object")
    end
    local slot = slot_of(root)
    if not slot then
      return
    end
    if slot ~= current or batch.n >= BATCH_FRAMES then
      flush()
      current = slot
    end
    local ts = ts_of(root, p)
    local ttok, btok = reader.tok(root, "text"), reader.tok(root, "binary")
    local topic = G(root, "topic")
    if topic ~= nil and type(topic) ~= "string" then
      return bad(line, "\"topic\" is not a string")
    end
    local T = reader.tape()
    local rc
    if ttok and reader.type(ttok) == tape.J_STR then
      rc = api.batch_push_json_string(batch, slot, C.FH_FRAME_TEXT, ts, topic, topic and #topic or 0,
        p + T[ttok].start, T[ttok].len)
    elseif btok and reader.type(btok) == tape.J_STR then
      local n, b64 = T[btok].len, p + T[btok].start
      if T[btok].flags ~= 0 then   -- escaped (`\/`, as other JSON writers put it): plain first
        b64 = reader.str(btok)
        n = #b64
      end
      rc = api.batch_push_base64(batch, slot, C.FH_FRAME_BINARY, ts, topic, topic and #topic or 0,
        b64, n)
    else
      return bad(line, "no \"text\" or \"binary\" member")
    end
    if rc ~= 0 then
      return bad(line, rc == -2 and "bad escape or base64" or "out of memory")
    end
    if ttok then   -- a text frame is UTF-8, as on the wire
      local f = batch.frames[batch.n - 1]
      if api.utf8_valid(ffi.cast("const uint8_t *", batch.buf + f.off), f.len, nil) == 0 then
        batch.n = batch.n - 1
        batch.used = f.off - f.meta
        return bad(line, "the text frame is not UTF-8")
      end
    end
    summary.frames = summary.frames + 1
  end
  local stop = opts.stop or function() return false end
  for line, err in M.lines(src) do
    if line == false then
      summary.fatal = err
      break
    end
    if summary.lines % 256 == 0 and stop() then
      break
    end
    summary.lines = summary.lines + 1
    if line:match("%S") then
      take(line)
    end
  end
  flush()
  return summary
end

M.MAX_LINE = 64 * 1024 * 1024   -- a capture line longer than this: not a capture
local CHUNK = 1024 * 1024

--- The lines of a capture: its text (a string), or a file read 1 MiB at a time (so memory stays
-- bounded whatever its size). A line longer than M.MAX_LINE, or a read error, ends the lines
-- with (false, message).
function M.lines(src)
  if type(src) == "string" then
    return src:gmatch("[^\n]+")
  end
  local buf, pos, done = "", 1, false
  return function()
    while true do
      local nl = buf:find("\n", pos, true)
      if nl then
        local line = buf:sub(pos, nl - 1)
        pos = nl + 1
        return line
      end
      if #buf - pos + 1 > M.MAX_LINE then
        return false, string.format("a line longer than %d MiB: not a capture", M.MAX_LINE / 1048576)
      end
      if done then
        local rest = buf:sub(pos)
        buf, pos = "", 1
        if rest ~= "" then
          return rest
        end
        return nil
      end
      local chunk, err = src:read(CHUNK)
      if err then
        return false, "cannot read the capture: " .. tostring(err)
      end
      if not chunk then
        done = true
      else
        buf = buf:sub(pos) .. chunk
        pos = 1
      end
    end
  end
end

--- int64 from a string of decimal digits.
function M.parse_int64(s)
  local v = 0LL
  for i = 1, #s do
    v = v * 10 + (s:byte(i) - 48)
  end
  return v
end

--- The integer written at number token `t` (exact, as int64), or nil.
function M.int_token(reader, p, t)
  local T = reader.tape()
  local s = ffi.string(p + T[t].start, T[t].len)
  if s:match("^%d+$") then
    return M.parse_int64(s)
  end
  local n = tonumber(s)
  return n and ffi.new("int64_t", n) or nil
end

return M
