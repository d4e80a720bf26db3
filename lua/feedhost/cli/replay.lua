--- feedhost replay: captured frames through the compiled pipelines, records out.
local args = require("feedhost.cli.args")
local symbol_of = require("feedhost.data.asset").symbol_of

local M = { name = "replay", npos = 2,
  options = { ["trusted-spec"] = "flag", assets = "value", ["assets-file"] = "value",
    credentials = "value", connection = "value", output = "value", ["log-level"] = "value",
    ["output-buffer"] = "value" } }

M.help = [[
usage: feedhost replay SPEC CAPTURE [--connection NAME] [--assets A,B] [--credentials FILE]
                       [--output ndjson|none] [--log-level LEVEL]

Runs the "in" frames of CAPTURE (JSON lines {"ts","connection","dir","text"|"binary"}) through
the compiled pipeline of each connection. Records go to stdout as NDJSON; a summary (frames,
records per channel, errors per connection, kind and key path) goes to stderr. Bad frames are
counted and skipped. Missing credentials are allowed (replay sends nothing). With --assets only
records of those assets are written (records without an asset, such as orders, always are).
A capture none of whose frames is for a connection of the spec (or for --connection) is an
error (exit 2) naming the connections of both. The capture is read in bounded memory whatever
its size; the summary says frames/s; on a terminal a large capture shows a progress line.
]]

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

local function summary_lines(order, sum)
  local lines = {}
  local total_frames, total_records, total_errors = 0, 0, 0
  for _, name in ipairs(order) do
    local s = sum.stats[name]
    if s.frames > 0 then
      total_frames = total_frames + s.frames
      total_records = total_records + s.records
      total_errors = total_errors + s.errors
      local chans = {}
      for _, ch in ipairs(sorted_keys(s.by_channel)) do
        chans[#chans + 1] = ch .. " " .. s.by_channel[ch]
      end
      lines[#lines + 1] = string.format("  %s: frames %d, records %d (%s), errors %d%s", name, s.frames,
        s.records, #chans > 0 and table.concat(chans, ", ") or "none", s.errors,
        (s.unrouted + s.unconverted + s.dropped + s.empty + s.info + s.heartbeats) > 0 and string.format(
          "; unrouted %d, unconverted %d, dropped %d, empty %d, info %d, heartbeats %d", s.unrouted,
          s.unconverted, s.dropped, s.empty, s.info, s.heartbeats) or "")
      local kinds = {}
      for _, k in ipairs(sorted_keys(s.error_kinds)) do
        kinds[#kinds + 1] = k .. " " .. s.error_kinds[k]
      end
      if #kinds > 0 then
        lines[#lines + 1] = "    errors by kind: " .. table.concat(kinds, ", ")
      end
      for _, path in ipairs(sorted_keys(s.error_paths)) do
        lines[#lines + 1] = string.format("    errors at %s: %d", path, s.error_paths[path])
      end
    end
  end
  table.insert(lines, 1, string.format("replay: %d frames, %d records, %d errors", total_frames,
    total_records, total_errors))
  for name, n in pairs(sum.unknown_connections) do
    lines[#lines + 1] = string.format("  %d frames for connection '%s', which the spec does not have", n, name)
  end
  if sum.bad_lines > 0 then
    lines[#lines + 1] = string.format("  %d unreadable capture lines: %s", sum.bad_lines,
      table.concat(sum.bad_samples, "; "))
  end
  return lines
end

-- A progress line on stderr, redrawn at most 5 times a second: for a large capture when stderr
-- is a terminal. @return update(done_bytes, lines), finish()
local function progress(total)
  local api = require("feedhost.sys.ffi").api
  local clock = require("feedhost.sys.clock")
  if total < 16 * 1048576 or api.fd_isatty(2) == 0 then
    return function() end, function() end
  end
  local t0, last = clock.mono(), 0
  local function update(done, lines)
    local now = clock.mono()
    if now - last < 0.2 then
      return
    end
    last = now
    local f = math.min(done / total, 1)
    local bar = string.rep("#", math.floor(f * 30)) .. string.rep(" ", 30 - math.floor(f * 30))
    io.stderr:write(string.format("\rreplay [%s] %3d%%  %d lines  %.0f lines/s ", bar,
      math.floor(f * 100), lines, lines / math.max(now - t0, 1e-9)))
  end
  return update, function() io.stderr:write("\r\27[K") end
end

-- Why a replay read no frame: the capture's connections against the spec's (or --connection).
local function no_frames(capture, order, sum, only)
  local theirs = {}
  for _, name in ipairs(sorted_keys(sum.unknown_connections)) do
    theirs[#theirs + 1] = string.format("'%s' (%d frames)", name, sum.unknown_connections[name])
  end
  for _, name in ipairs(sorted_keys(sum.seen or {})) do
    theirs[#theirs + 1] = string.format("'%s' (%d frames)", name, sum.seen[name])
  end
  local has = #theirs > 0 and ("has frames for " .. table.concat(theirs, ", "))
    or "has no \"in\" frames"
  if only then
    return string.format("%s: no frame for --connection %s: the capture %s", capture, only, has)
  end
  return string.format("%s: no frame for a connection of the spec (%s): the capture %s",
    capture, table.concat(order, ", "), has)
end

function M.run(opts, pos)
  local src, ferr = io.open(pos[2], "rb")
  if not src then
    return args.report("replay", "cannot read capture " .. tostring(ferr))
  end
  local log, lerr = args.logger(opts, "warning")
  if not log then
    return args.report("replay", lerr)
  end
  -- a replay has no feed to keep up with: a slow reader is waited for, never dropped
  local output, oerr = args.ndjson_output(opts.output, log, opts, math.huge)
  if oerr then
    return args.report("replay", oerr)
  end
  local failed = nil
  -- --assets: only records of those assets (by symbol), through record tables; otherwise the
  -- records go straight from the pipelines into the output's buffer as NDJSON lines
  local only, left_out = nil, 0
  local symbols = args.assets(opts) or {}
  if #symbols > 0 then
    only = {}
    for _, sym in ipairs(symbols) do
      only[sym] = true
    end
  end
  local spec, err, code = require("feedhost").load({ spec = pos[1], credentials = opts.credentials,
    lenient_credentials = true, log = log, trusted = opts["trusted-spec"], assets = symbols,
    out = output and not only and output.out or nil,
    on_record = output and only and function(r)
      local a = r.asset
      if a ~= nil and not only[symbol_of(a)] then
        left_out = left_out + 1
        return
      end
      output.write(r)
    end })
  if not spec then
    return args.report("replay", err, code)
  end
  if opts.connection and not spec:pipeline(opts.connection) then
    return args.report("replay", string.format("--connection %s: the spec has %s", opts.connection,
      table.concat(spec.order, ", ")))
  end
  local total = src:seek("end") or 0
  src:seek("set")
  local update, finish = progress(total)
  local read = 0
  local clock = require("feedhost.sys.clock")
  local t0 = clock.mono()
  local sum = spec:replay(src, { connection = opts.connection, stop = function()
    if output then
      local _, ferr2 = output.flush()
      failed = failed or ferr2
    end
    read = read + 256   -- called every 256 capture lines
    update(src:seek() or 0, read)
    return failed
  end })
  local secs = clock.mono() - t0
  finish()
  if output and not failed then
    local _, ferr2 = output.close(math.huge)
    failed = ferr2
  end
  src:close()
  local lines = summary_lines(spec.order, sum)
  lines[1] = lines[1] .. string.format(" in %.2fs (%.0f frames/s)", secs,
    sum.frames / math.max(secs, 1e-9))
  if left_out > 0 then
    lines[#lines + 1] = string.format("  %d records of other assets than --assets left out", left_out)
  end
  io.stderr:write(table.concat(lines, "\n"), "\n")
  if sum.frames == 0 and not sum.fatal and not failed then
    return args.report("replay", no_frames(pos[2], spec.order, sum, opts.connection), 2)
  end
  if sum.fatal then
    return args.report("replay", pos[2] .. ": " .. sum.fatal, 2)
  end
  if failed then
    return args.report("replay", failed .. " (the replay stopped there)", 1)
  end
  return 0
end

return M
