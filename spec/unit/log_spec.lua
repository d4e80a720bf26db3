local log = require("feedhost.util.log")

-- A logger writing into `lines`, with a settable fake clock.
local function make(opts)
  local lines = {}
  local clock = { t = 1795745834.123 } -- 2026-11-27T02:17:14.123Z
  opts = opts or {}
  opts.sink = function(line) lines[#lines + 1] = line end
  opts.clock = function() return clock.t end
  return log.new(opts), lines, clock
end

describe("feedhost.util.log", function()
  it("formats lines with a UTC timestamp, level and prefix", function()
    local lg, lines = make()
    lg:info("hello")
    lg:warning("x=%d y=%s", 5, "z")
    lg:error("boom")
    lg:child("market_data"):warning("reconnecting in %.1fs", 1.5)
    assert.same({
      "2026-11-27T02:17:14.123Z INFO hello",
      "2026-11-27T02:17:14.123Z WARN x=5 y=z",
      "2026-11-27T02:17:14.123Z ERROR boom",
      "2026-11-27T02:17:14.123Z WARN [market_data] reconnecting in 1.5s",
    }, lines)
  end)

  it("does not format a message without arguments, and survives a bad format", function()
    local lg, lines = make()
    lg:info("100% done")
    lg:info("%d items", "many")
    assert.equals("2026-11-27T02:17:14.123Z INFO 100% done", lines[1])
    assert.equals("2026-11-27T02:17:14.123Z INFO %d items many", lines[2])
  end)

  it("writes milliseconds of the clock, truncated", function()
    local lg, lines, clock = make()
    clock.t = 0.0
    lg:info("a")
    clock.t = 1.9999
    lg:info("b")
    clock.t = 1795745834.5
    lg:info("c")
    assert.equals("1970-01-01T00:00:00.000Z INFO a", lines[1])
    assert.equals("1970-01-01T00:00:01.999Z INFO b", lines[2])
    assert.equals("2026-11-27T02:17:14.500Z INFO c", lines[3])
  end)

  it("filters by level; none silences", function()
    local lg, lines = make({ level = "warning" })
    assert.is_false(lg:debug("d"))
    assert.is_false(lg:info("i"))
    assert.is_true(lg:warning("w"))
    assert.is_true(lg:error("e"))
    assert.equals(2, #lines)
    lg:set_level("debug")
    lg:debug("d2")
    assert.equals("2026-11-27T02:17:14.123Z DEBUG d2", lines[3])
    local quiet, qlines = make({ level = "none" })
    quiet:error("e")
    quiet:event("error", "k", "e")
    assert.equals(0, #qlines)
    assert.is_false(quiet:enabled("error"))
    assert.has_error(function() log.new({ level = "loud" }) end)
  end)

  it("rate-limits events per key: burst lines per window, then reports suppressed", function()
    local lg, lines, clock = make({ burst = 3, window = 10 })
    for _ = 1, 5 do
      lg:event("warning", "bad_frame", "unparsable frame")
    end
    lg:event("warning", "other", "other key")
    assert.equals(4, #lines)
    clock.t = clock.t + 9.9
    assert.is_false(lg:event("warning", "bad_frame", "unparsable frame"))
    clock.t = clock.t + 0.1 -- 10 s after the first line
    assert.is_true(lg:event("warning", "bad_frame", "unparsable frame"))
    assert.equals("2026-11-27T02:17:24.123Z WARN unparsable frame (+3 suppressed)", lines[5])
    assert.is_true(lg:event("warning", "bad_frame", "unparsable frame"))
    assert.equals("2026-11-27T02:17:24.123Z WARN unparsable frame", lines[6])
    assert.is_true(lg:event("warning", "bad_frame", "unparsable frame"))
    assert.is_false(lg:event("warning", "bad_frame", "unparsable frame"))
    local c = lg:counts()
    assert.equals(7, c.written.warning)
    assert.equals(4, c.suppressed.warning)
    assert.equals(0, c.written.error)
  end)

  it("uses a sliding window: never more than burst lines in any window", function()
    local lg, _, clock = make({ burst = 2, window = 10 })
    local times = {}
    for step = 0, 400 do
      clock.t = 1000 + step * 0.25
      if lg:event("info", "k", "m") then
        times[#times + 1] = clock.t
      end
    end
    for i = 3, #times do
      assert.is_true(times[i] - times[i - 2] >= 10)
    end
    assert.equals(21, #times) -- pairs at 1000, 1000.25, 1010, 1010.25, ..., 1100
  end)

  it("scopes rate-limit keys by child prefix", function()
    local lg, lines = make({ burst = 1 })
    lg:child("a"):event("warning", "k", "m")
    lg:child("b"):event("warning", "k", "m")
    lg:child("a"):event("warning", "k", "m")
    assert.equals(2, #lines)
    assert.equals("2026-11-27T02:17:14.123Z WARN [b] m", lines[2])
    assert.equals(1, lg:counts().suppressed.warning)
  end)

  it("appends a truncated, escaped sample", function()
    local lg, lines = make()
    lg:event("warning", "k1", "bad frame", '{"a":\n1}\t\0')
    assert.equals('2026-11-27T02:17:14.123Z WARN bad frame | {"a":\\n1}\\t\\x00', lines[1])
    lg:event("warning", "k2", "big", string.rep("x", 250))
    assert.equals("2026-11-27T02:17:14.123Z WARN big | " .. string.rep("x", 200) .. "…(+50 bytes)", lines[2])
    lg:event("warning", "k3", "exact", string.rep("y", 200))
    assert.equals("2026-11-27T02:17:14.123Z WARN exact | " .. string.rep("y", 200), lines[3])
    -- never cut inside a UTF-8 sequence
    lg:event("warning", "k4", "utf8", string.rep("x", 199) .. "é" .. "abc")
    assert.equals("2026-11-27T02:17:14.123Z WARN utf8 | " .. string.rep("x", 199) .. "…(+5 bytes)", lines[4])
  end)

  it("escapes control characters in messages", function()
    local lg, lines = make()
    lg:error("line1\nline2\r")
    assert.equals("2026-11-27T02:17:14.123Z ERROR line1\\nline2\\r", lines[1])
  end)

  it("redacts secrets everywhere: messages, samples, prefixes, children", function()
    local lg, lines = make()
    assert.is_true(lg:add_secret("PKS3CR3T"))
    assert.is_true(lg:add_secret("a+b/c=d"))
    assert.is_false(lg:add_secret("ab")) -- too short
    assert.is_false(lg:add_secret(nil))
    lg:info("auth with PKS3CR3T and PKS3CR3T again")
    lg:child("PKS3CR3T"):warning("x")
    lg:event("warning", "k", "frame", '{"key":"PKS3CR3T","s":"a+b/c=d"}')
    lg:info("url ?secret=a%2Bb%2Fc%3Dd&x=1")
    lg:info("ab stays")
    lg:info("%s", "a.b") -- pattern characters in a secret are literal
    assert.equals("2026-11-27T02:17:14.123Z INFO auth with *** and *** again", lines[1])
    assert.equals("2026-11-27T02:17:14.123Z WARN [***] x", lines[2])
    assert.equals('2026-11-27T02:17:14.123Z WARN frame | {"key":"***","s":"***"}', lines[3])
    assert.equals("2026-11-27T02:17:14.123Z INFO url ?secret=***&x=1", lines[4])
    assert.equals("2026-11-27T02:17:14.123Z INFO ab stays", lines[5])
    assert.equals("2026-11-27T02:17:14.123Z INFO a.b", lines[6])
  end)

  it("redacts a secret in a sample before truncating it", function()
    local lg, lines = make()
    local secret = "TOPSECRETVALUE"
    lg:add_secret(secret)
    lg:event("warning", "k", "m", string.rep("x", 195) .. secret .. string.rep("z", 10))
    assert.is_nil(lines[1]:find("TOPSEC", 1, true))
    assert.equals("2026-11-27T02:17:14.123Z WARN m | " .. string.rep("x", 195) .. "***zz…(+8 bytes)", lines[1])
  end)

  it("a secret added on a child applies to the parent", function()
    local lg, lines = make()
    lg:child("c"):add_secret("hunter2")
    lg:info("pw hunter2")
    assert.equals("2026-11-27T02:17:14.123Z INFO pw ***", lines[1])
  end)

  it("counts written lines per level, shared with children", function()
    local lg = make({ level = "debug" })
    lg:debug("a")
    lg:info("b")
    lg:child("x"):info("c")
    lg:error("d")
    local c = lg:counts()
    assert.same({ debug = 1, info = 2, warning = 0, error = 1 }, c.written)
    assert.same({ debug = 0, info = 0, warning = 0, error = 0 }, c.suppressed)
  end)

  it("survives a failing sink", function()
    local lg = log.new({ sink = function() error("disk full") end })
    assert.is_true(lg:info("x"))
  end)

  it("uses the defaults without a clock or sink", function()
    local lg = log.new({ level = "none" })
    assert.is_false(lg:info("x"))
    assert.equals("string", type(log.format_sample(nil, 12)))
  end)
end)
