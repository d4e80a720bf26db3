-- Integration tests of `feedhost run` over MQTT against a real mosquitto broker on 127.0.0.1,
-- started and stopped by each test (spec/helpers/brokers.lua): a password file, a TLS listener
-- with a CA made at test time, a restart on the same port. What the broker logged (sessions,
-- refusals, SUBSCRIBE and UNSUBSCRIBE with their topics) is checked beside feedhost's records and
-- stderr. Waits are conditions polled with a deadline, never bare sleeps.
local it_ = require("spec.helpers.integration")
local brokers = require("spec.helpers.brokers")

local KEY, SECRET = "WBAPPKEY1", "wb-s3cr3t-Q7Z"
local USER, PASS = "feeduser", "feed-pa55-X9"

local AAPL, MSFT = "913256135", "913323997"
local function wtopic(id, typ)
  return string.format('{"tickerIds":[%s],"type":"%s"}', id, typ)
end

local function creds(t, tbl)
  return it_.write(t .. "/creds.json", it_.json_encode(tbl))
end

local function assert_no_secret(fh, ...)
  for i, l in ipairs(fh:stderr_lines()) do
    for _, s in ipairs({ ... }) do
      assert(not l:find(s, 1, true), string.format("stderr line %d shows a credential: %s", i, l))
    end
  end
end

-- records of the mqtt_feed spec: volume is the publisher's sequence number
local function seqs(fh, symbol)
  local out = {}
  for _, r in ipairs(fh:records()) do
    if r.asset == symbol then
      out[#out + 1] = r.data.volume
    end
  end
  return out
end

local function trade(seq, price)
  return string.format('{"t":%d,"p":"%s","s":%d}', 1732633200000 + seq, price or "101.5", seq)
end

-- `feedhost run` of spec/integration/specs/mqtt_feed.lua against `url` as USER. o: assets (default
-- "AAPL"), password (default PASS), stats (--stats-interval, default "0"), args (more arguments),
-- env (as it_.feedhost's)
local function run_feed(t, url, o)
  o = o or {}
  local args = { "--trusted-spec", "--assets", o.assets or "AAPL",
    "--credentials", creds(t, { username = USER, password = o.password or PASS }),
    "--url", "feed=" .. url, "--stats-interval", o.stats or "0" }
  for _, a in ipairs(o.args or {}) do
    args[#args + 1] = a
  end
  return it_.feedhost(t, "spec/integration/specs/mqtt_feed.lua", args, o.env)
end

-- a line of stderr matching `pattern`, waited for
local function wait_line(fh, pattern, timeout, what, ...)
  return it_.wait_for(function() return fh:grep(pattern)[1] end, timeout or 10, what or pattern, fh, ...)
end

describe("feedhost over MQTT (mosquitto)", function()
  after_each(function()
    it_.cleanup()
  end)

  it("runs specs/webull.lua: logs in, subscribes its JSON topics, turns messages into records,"
    .. " skips malformed ones and records a capture that replays to the same records", function()
    local t = it_.tmpdir()
    local b = brokers.mosquitto(t, { users = { [KEY] = SECRET } })
    local cap = t .. "/capture.ndjson"
    local fh = it_.feedhost(t, "specs/webull.lua", { "--assets", "AAPL,MSFT",
      "--credentials", creds(t, { app_key = KEY, app_secret = SECRET }), "--url",
      "market_data=" .. b:url(), "--stats-interval", "1", "--record", cap, "--log-level", "debug" })
    -- the broker saw the login and one SUBSCRIBE per channel with every topic at QoS 1
    it_.wait_for(function() return #b:subscribes() >= 2 end, 10, "two SUBSCRIBE requests", fh, b.proc)
    local sess = b:connects()
    assert.are.equal(1, #sess)
    assert.are.equal(KEY, sess[1].user)
    assert.are.equal(30, sess[1].keepalive)
    assert.matches("^feedhost%-%x+$", sess[1].client)
    assert.are.equal(25, #sess[1].client)
    local subs = b:subscribes(sess[1].client)
    assert.are.same({ wtopic(AAPL, 103) .. " (QoS 1)", wtopic(MSFT, 103) .. " (QoS 1)" }, subs[1])
    assert.are.same({ wtopic(AAPL, 102) .. " (QoS 1)", wtopic(AAPL, 104) .. " (QoS 1)",
      wtopic(MSFT, 102) .. " (QoS 1)", wtopic(MSFT, 104) .. " (QoS 1)" }, subs[2])
    wait_line(fh, "subscriptions granted: 4", 5, "the broker's SUBACK")

    b:publish(wtopic(AAPL, 103), '{"tickerId":913256135,"tradeStamp":1732633200123,"trdSeq":1,'
      .. '"deal":{"trdBs":"B","volume":100,"price":"234.56"}}', KEY)
    b:publish(wtopic(AAPL, 103), 'deal 234.57 x 10', KEY)    -- malformed: counted and skipped
    b:publish(wtopic(MSFT, 102), '{"tickerId":913323997,"tradeStamp":1732633201000,"status":"T",'
      .. '"pPrice":"415.10","open":"414.00","high":"416.25","low":"413.80","close":"415.10","volume":"1200"}', KEY)
    b:publish(wtopic(AAPL, 104), '{"tickerId":913256135,"tradeStamp":1732633202500,'
      .. '"askList":[{"price":"234.60","volume":"300"}],"bidList":[{"price":"234.55","volume":"200"}]}', KEY)
    it_.wait_for(function() return #fh:records() >= 3 end, 10, "3 records", fh, b.proc)
    local recs = fh:records()
    assert.are.equal(3, #recs)
    assert.are.same({ price = 234.56, volume = 100 }, recs[1].data)
    assert.are.equal("AAPL", recs[1].asset)
    assert.are.equal(1732633200123000000, recs[1].timestamp)
    assert.are.equal("MSFT", recs[2].asset)
    assert.are.equal(415.1, recs[2].last)
    assert.are.equal("regular", recs[2].session)
    assert.are.equal(234.55, recs[3].bid)
    assert.are.equal(234.6, recs[3].ask)
    -- the malformed payload: counted, logged with the parser's words, the feed went on
    assert.is_truthy(fh:grep("parse: invalid JSON")[1])
    it_.wait_for(function()
      local s = fh:last_stats("market_data")
      return s and s.records == 3 and s.errors == 1 and s.frames == 4
    end, 5, "a stats line with 4 frames, 3 records, 1 error", fh)

    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
    assert_no_secret(fh, SECRET)
    -- the capture keeps each frame's topic: replayed, the same records
    local capture = it_.read(cap)
    assert.matches('"topic":"{\\"tickerIds\\":%[913256135%],\\"type\\":\\"103\\"}"', capture)
    local rp = io.popen(it_.shq(it_.BIN) .. " replay specs/webull.lua " .. it_.shq(cap) .. " 2>/dev/null")
    local replayed = rp:read("*a")
    rp:close()
    assert.are.equal(it_.read(fh.out), replayed)
  end)

  it("backs off from a broker that refuses the login, never subscribing, and keeps the password"
    .. " out of the log", function()
    local t = it_.tmpdir()
    local b = brokers.mosquitto(t, { users = { [USER] = PASS } })
    local fh = run_feed(t, b:url(), { password = "not-" .. PASS })
    it_.wait_for(function() return #fh:grep("reconnecting in") >= 4 end, 20, "4 retries", fh, b.proc)
    assert.is_true(b:refusals() >= 4)
    assert.are.equal(0, #b:subscribes())
    assert.matches("refused by the broker: not authorized %(CONNACK 5%)",
      fh:grep("refused by the broker")[1])
    -- the delays double: 0.3, 0.6, 1.2, 2.4 s (jitter 0); attempts happen that far apart
    local delays, starts = {}, {}
    for _, l in ipairs(fh:stderr_lines()) do
      local d = l:match("reconnecting in ([%d.]+)s")
      if d then
        delays[#delays + 1] = tonumber(d)
      end
      local h, m, s = l:match("^%d+%-%d+%-%d+T(%d+):(%d+):([%d.]+)Z INFO %[feed%] connecting to")
      if h then
        starts[#starts + 1] = h * 3600 + m * 60 + s
      end
    end
    assert.are.same({ 0.3, 0.6, 1.2, 2.4 }, { delays[1], delays[2], delays[3], delays[4] })
    assert.is_true(#starts >= 4)
    for i = 1, 3 do
      local gap = starts[i + 1] - starts[i]
      assert(gap >= delays[i] * 0.9, string.format("attempt %d came %.2fs after the one before,"
        .. " before its %.1fs delay", i + 1, gap, delays[i]))
    end
    assert.is_nil(fh:grep("subscribed %d")[1])
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
    assert_no_secret(fh, PASS)
  end)

  it("comes back after the broker restarts and subscribes again (seen by the new broker)", function()
    local t = it_.tmpdir()
    local b = brokers.mosquitto(t, { users = { [USER] = PASS } })
    local fh = run_feed(t, b:url(), { assets = "AAPL,MSFT" })
    it_.wait_for(function() return #b:subscribes() >= 1 end, 10, "SUBSCRIBE", fh, b.proc)
    local client = b:connects()[1].client
    b:publish("trades/AAPL", trade(1), USER)
    it_.wait_for(function() return #seqs(fh, "AAPL") >= 1 end, 10, "the first record", fh)

    b:stop()
    wait_line(fh, "closed 1006", 10, "the lost connection", b.proc)
    wait_line(fh, "reconnecting in", 5, "a backoff")
    assert.is_true(b:start(), "mosquitto did not come back on its port")
    it_.wait_for(function() return #b:subscribes(client) >= 1 end, 15, "SUBSCRIBE at the new broker", fh, b.proc)
    -- the same session id, every topic again
    assert.are.equal(client, b:connects()[1].client)
    assert.are.same({ "trades/AAPL (QoS 1)", "trades/MSFT (QoS 1)" }, b:subscribes(client)[1])
    b:publish("trades/MSFT", trade(2, "301.25"), USER)
    it_.wait_for(function() return #seqs(fh, "MSFT") >= 1 end, 10, "a record after the restart", fh)
    assert.are.same({ 2 }, seqs(fh, "MSFT"))
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("counts a burst larger than its share of the inbox as drops, without a stall or a crash", function()
    local t = it_.tmpdir()
    local b = brokers.mosquitto(t, { users = { [USER] = PASS } })
    -- the first message holds the loop for 0.9 s (inside the 1 s budget of spec code) while 3000
    -- more arrive; 100 may wait
    local fh = run_feed(t, b:url(), { stats = "1", env = { FH_TEST_MAX_QUEUED = 100, FH_TEST_STALL = 0.9 } })
    it_.wait_for(function() return #b:subscribes() >= 1 end, 10, "SUBSCRIBE", fh, b.proc)
    local burst = {}
    for i = 1, 3001 do
      burst[i] = trade(i)
    end
    b:publish("trades/AAPL", burst, USER)
    -- every message is a record or a counted drop
    local function settled()
      local s = fh:last_stats("feed")
      return s and s.dropped and s.records + s.dropped == 3001 and s
    end
    local s = it_.wait_for(settled, 20, "records + dropped = 3001", fh, b.proc)
    assert.is_true(s.dropped > 0)
    assert.is_true(s.records >= 100)
    assert.is_truthy(fh:grep("dropped %d+ messages: the loop's inbox was full")[1])
    -- what arrived came in order
    local got = seqs(fh, "AAPL")
    for i = 2, #got do
      assert(got[i] > got[i - 1], "out of order at " .. i)
    end
    -- still live: the next message is a record at once
    b:publish("trades/AAPL", trade(5000), USER)
    it_.wait_for(function() local g = seqs(fh, "AAPL") return g[#g] == 5000 end, 5, "a record after the burst", fh)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("verifies the broker's certificate over ssl://: refused without the CA, streams with it", function()
    local t = it_.tmpdir()
    local ca = it_.make_ca(t)
    local b = brokers.mosquitto(t, { users = { [USER] = PASS }, tls = ca })
    local bad = run_feed(t, b:url("ssl"))
    local why = wait_line(bad, "certificate verify failed", 10, "the refused certificate", b.proc)
    assert.matches("%-%-ca%-file F", why)
    wait_line(bad, "reconnecting in", 5, "a backoff")
    bad:signal("TERM")
    assert.are.equal(0, bad:wait_exit(5))

    local fh = run_feed(t, b:url("ssl"), { args = { "--ca-file", ca.ca } })
    it_.wait_for(function() return #b:subscribes() >= 1 end, 10, "SUBSCRIBE over TLS", fh, b.proc)
    b:publish("trades/AAPL", trade(7), USER)
    it_.wait_for(function() return #seqs(fh, "AAPL") >= 1 end, 10, "a record over TLS", fh)
    assert.are.same({ 7 }, seqs(fh, "AAPL"))
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
    assert_no_secret(fh, PASS)
  end)

  it("speaks MQTT over WebSocket (ws://) through a bridge to the broker", function()
    local t = it_.tmpdir()
    local b = brokers.mosquitto(t, { users = { [USER] = PASS } })
    local bridge = it_.peer(t, "bridge", { it_.PYTHON, "spec/integration/servers/ws_tcp_bridge.py" },
      { "--to", "127.0.0.1:" .. b.port }, { log = false })
    local fh = run_feed(t, "ws://127.0.0.1:" .. bridge.port .. "/mqtt")
    it_.wait_for(function() return #b:subscribes() >= 1 end, 10, "SUBSCRIBE through the bridge", fh, b.proc, bridge)
    assert.matches("connect /mqtt mqtt", bridge:stderr())
    b:publish("trades/AAPL", trade(3), USER)
    it_.wait_for(function() return #seqs(fh, "AAPL") >= 1 end, 10, "a record over WebSocket", fh)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("reports the topics a broker refuses in its SUBACK, and stays up", function()
    local t = it_.tmpdir()
    local peer = it_.peer(t, "suback_broker", { it_.PYTHON, "spec/integration/servers/suback_broker.py" },
      { "--refuse", "trades/MSFT" }, { log = false })
    local fh = run_feed(t, "tcp://127.0.0.1:" .. peer.port, { assets = "AAPL,MSFT,TSLA", stats = "1" })
    local line = wait_line(fh, "not subscribed", 10, "the refusal", peer)
    assert.matches("1 topic not subscribed: trades/MSFT", line)
    assert.matches("SUBSCRIBE trades/AAPL 1\nSUBSCRIBE trades/MSFT 128\nSUBSCRIBE trades/TSLA 1", peer:stderr())
    it_.wait_for(function()
      local st = fh:last_stats("feed")
      return st and st.errors == 1 and st.reconnects == 0 and st.line:find(": live ")
    end, 5, "a live connection with the refusal counted", fh)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("unsubscribes on host:unsubscribe, in an application's own process", function()
    require("feedhost.core")
    local feedhost = require("feedhost")
    local reactor = require("feedhost.runtime.reactor")
    local t = it_.tmpdir()
    local b = brokers.mosquitto(t, { users = { [USER] = PASS } })
    local records = {}
    local host = assert(feedhost.new({ spec = "spec/integration/specs/mqtt_feed.lua", trusted = true,
      credentials = { username = USER, password = PASS }, urls = { feed = b:url() },
      log = require("feedhost.util.log").new({ level = "none" }),
      on_record = function(r) records[#records + 1] = r end }))
    host:subscribe({ "AAPL", "MSFT" })
    local function step_until(cond, secs, what)
      local deadline = reactor.now() + secs
      while not cond() do
        assert(reactor.now() < deadline, "timed out waiting for " .. what .. "\n"
          .. table.concat(b:lines(), "\n"))
        host:step(20)
      end
    end
    step_until(function() return #b:subscribes() >= 1 end, 10, "SUBSCRIBE")
    host:unsubscribe({ "MSFT" })
    step_until(function() return #b:subscribes(nil, true) >= 1 end, 10, "UNSUBSCRIBE")
    assert.are.same({ "trades/MSFT" }, b:subscribes(nil, true)[1])
    b:publish("trades/MSFT", trade(1), USER)
    b:publish("trades/AAPL", trade(2), USER)
    step_until(function() return #records >= 1 end, 10, "the AAPL record")
    host:step(100)
    assert.are.equal(1, #records)
    assert.are.equal("AAPL", records[1].asset.symbol)
    host:close()
  end)
end)
