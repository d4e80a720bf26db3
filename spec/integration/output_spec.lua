-- The NDJSON output against a reader slower than the feed (lua/feedhost/runtime/output.lua): the
-- stated policy (a bounded buffer; past half of it the host stops reading its sockets for at
-- most --output-wait seconds; then lines that do not fit are dropped, counted and logged),
-- memory that stays bounded, and SIGINT / SIGTERM taken at once while stdout is full.
-- `feedhost demo` streams fast from its embedded simulator into a FIFO whose reader never reads.
local it_ = require("spec.helpers.integration")

-- `feedhost demo` with stdout into a FIFO that a `sleep` holds open and never reads
local function stalled_demo(t, args)
  local fifo = t .. "/out.fifo"
  local made = os.execute("mkfifo " .. it_.shq(fifo))
  assert(made == 0 or made == true, "mkfifo " .. fifo .. " failed")
  local reader = it_.spawn(t, "reader", { "sh", "-c", "exec sleep 120 <" .. it_.shq(fifo) })
  local fh = it_.spawn(t, "feedhost", { "sh", "-c", "exec " .. it_.shq(it_.BIN) .. " demo --rate 20000 "
    .. args .. " >" .. it_.shq(fifo) })
  return fh, reader
end

-- the last "output: ..." stats line's dropped count, or nil
local function dropped(fh)
  local n
  for _, l in ipairs(fh:stderr_lines()) do
    n = tonumber(l:match("output: %d+ lines, (%d+) dropped")) or n
  end
  return n
end

describe("stdout slower than the feed", function()
  after_each(it_.cleanup)

  it("waits --output-wait, then drops lines that do not fit, counted and logged, in bounded"
    .. " memory; SIGTERM ends the run at once", function()
    local t = it_.tmpdir()
    local fh, reader = stalled_demo(t, "--stats-interval 1 --output-buffer 2 --output-wait 0.3")
    it_.wait_for(function() return fh:grep("is not keeping up with the feed")[1] end, 15,
      "the slow-reader warning", fh)
    local n = it_.wait_for(function()
      local d = dropped(fh)
      return d and d > 1000 and d
    end, 15, "more than 1000 lines dropped and counted", fh)
    assert.is_true(n > 1000)
    -- the buffer is 2 MiB: the process stays small whatever it drops
    local rss = fh:memory_kib("VmRSS")
    assert(rss and rss < 80 * 1024, "RSS " .. tostring(rss) .. " KiB with a 2 MiB output buffer")
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(4), fh:describe())
    reader:stop()
  end)

  it("takes SIGINT while it waits for a full stdout (--output-wait 60)", function()
    local t = it_.tmpdir()
    local fh, reader = stalled_demo(t, "--stats-interval 0.2 --output-buffer 1 --output-wait 60")
    it_.wait_for(function() return fh:grep("subscribed")[1] end, 10, "the subscription", fh)
    -- blocked on stdout: the loop takes no step, so the stats lines stop
    local last, since = #fh:stderr_lines(), it_.now()
    it_.wait_for(function()
      local n = #fh:stderr_lines()
      if n ~= last then
        last, since = n, it_.now()
      end
      return it_.now() - since > 1.5
    end, 15, "the loop blocked on stdout (no stats line for 1.5 s)", fh)
    local t0 = it_.now()
    fh:signal("INT")
    assert.are.equal(0, fh:wait_exit(4), fh:describe())
    assert(it_.now() - t0 < 3, "SIGINT took " .. (it_.now() - t0) .. " s")
    reader:stop()
  end)
end)
