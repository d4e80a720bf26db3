--- feedhost bench: the in-process replay benchmark (a pool of messages through a compiled
-- pipeline, in memory), and the record sink the benchmarks share.
local args = require("feedhost.cli.args")

local M = { name = "bench", npos = { min = 2 },
  options = { ["trusted-spec"] = "flag", assets = "value", connection = "value",
    batch = "value", ndjson = "value" } }

M.help = [[
usage: feedhost bench SPEC POOL [N] [--connection NAME] [--assets A,B] [--batch K] [--ndjson FILE]

In-process replay benchmark: the lines of POOL are loaded into batches of K frames (default
256) in memory, then N messages (default 1,000,000) are run through the connection's compiled
pipeline. Records are kept in a ring of 1024 so they escape; with --ndjson FILE they are written
to FILE as NDJSON lines instead (/dev/null: the cost of making the lines), as `feedhost run`
writes them: by the converters, into the output buffer, written after every batch. Prints one
JSON line: {"impl","msgs","records","size_sum","secs","msg_per_s","mb_per_s"}.
]]

--- The benchmarks' record sink, as ../shared/bench/lua/convert.lua counts: records kept in a ring
-- of 1024 so they escape, and size_sum, the sum of data.volume. acc.nrec, acc.size_sum.
function M.sink()
  local band = require("bit").band
  local acc = { nrec = 0, size_sum = 0 }
  local ring = {}
  function acc.emit(r)
    local n = acc.nrec + 1
    acc.nrec = n
    ring[band(n, 1023) + 1] = r
    local d = r.data
    if d then
      local v = d.volume
      if v then
        acc.size_sum = acc.size_sum + v
      end
    end
  end
  return acc
end

function M.run(opts, pos)
  local src = require("feedhost.spec").read_file(pos[2])
  if not src then
    return args.report("bench", "cannot read " .. pos[2])
  end
  local n = tonumber(pos[3] or "1000000")
  local acc = M.sink()
  local output
  if opts.ndjson then
    local oerr
    output, oerr = require("feedhost.runtime.output").ndjson({ path = opts.ndjson, wait = math.huge })
    if not output then
      return args.report("bench", oerr)
    end
  end
  local spec, err, code = require("feedhost").load({ spec = pos[1], lenient_credentials = true,
    trusted = opts["trusted-spec"], assets = args.split_list(opts.assets),
    on_record = not output and acc.emit or nil, out = output and output.out })
  if not spec then
    return args.report("bench", err, code)
  end
  local name = opts.connection or spec.order[1]
  local pipeline = spec:pipeline(name)
  if not pipeline then
    return args.report("bench", "no connection " .. tostring(name))
  end
  local sys = require("feedhost.sys.ffi")
  local TEXT = sys.C.FH_FRAME_TEXT
  local per = tonumber(opts.batch or "256")
  local lines = {}
  for line in src:gmatch("[^\n]+") do
    lines[#lines + 1] = line
  end
  -- the pool as batches of `per` frames, built once
  local batches, bytes = {}, 0
  local i = 0
  while i < #lines do
    local b = sys.batch(per * 300, per)
    for k = 1, math.min(per, #lines - i) do
      local s = lines[i + k]
      sys.api.batch_push(b, 1, TEXT, 1700000000000000000LL, s, #s)
    end
    i = i + per
    batches[#batches + 1] = b
  end
  local run = pipeline.run
  collectgarbage()
  local t0 = os.clock()
  local done, k = 0, 0
  while done < n do
    k = k % #batches + 1
    local b = batches[k]
    local m = tonumber(b.n)
    if done + m > n then
      -- the tail of the last batch: a partial copy
      local part = sys.batch(per * 300, per)
      for j = 0, n - done - 1 do
        local fr = b.frames[j]
        sys.api.batch_push(part, 1, TEXT, fr.ts, b.buf + fr.off, fr.len)
      end
      b, m = part, n - done
    end
    bytes = bytes + tonumber(b.used)
    run(b)
    if output then
      local ok, ferr = output.flush()
      if not ok then
        return args.report("bench", ferr, 1)
      end
    end
    done = done + m
  end
  if output then
    local ok, ferr = output.close(math.huge)
    if not ok then
      return args.report("bench", ferr, 1)
    end
  end
  local dt = os.clock() - t0
  io.stdout:write(string.format('{"impl":"%s","case":"feedhost pipeline (%s)%s","msgs":%d,'
    .. '"records":%d,"size_sum":%d,"errors":%d,"secs":%.3f,"msg_per_s":%.0f,"mb_per_s":%.1f}\n',
    output and "feedhost-replay-ndjson" or "feedhost-replay", spec.name,
    output and ", NDJSON written" or "", n, output and pipeline.stats.records or acc.nrec,
    acc.size_sum, pipeline.stats.errors, dt, n / dt, bytes / dt / 1e6))
  return 0
end

return M
