-- Integration tests of `feedhost run` over ZeroMQ against python3-zmq peers on 127.0.0.1, started
-- and stopped by each test: a stand-in for the Darwinex DWX EA (spec/integration/servers/
-- dwx_peer.py: PUB prices, PULL commands, PUSH replies) running specs/dwx.lua, and a publisher of
-- multipart messages in a burst (the ZMQ_FD wake-ups, drained until EAGAIN). What the peer
-- received and sent is in its log; waits are conditions polled with a deadline.
local it_ = require("spec.helpers.integration")
local brokers = require("spec.helpers.brokers")

local DWX = "spec/integration/specs/dwx_local.lua"

-- quote records of a symbol, as the peer's sequence numbers: bid = base + seq * 0.00001
local BASE = { EURUSD = 1.0852, GBPUSD = 1.2681, USDJPY = 151.2 }
local function quote_seqs(fh, symbol)
  local out = {}
  for _, r in ipairs(fh:records()) do
    if r.channel == "quote" and r.asset == symbol then
      out[#out + 1] = math.floor((r.bid - BASE[symbol]) / 0.00001 + 0.5)
    end
  end
  return out
end

local function count(list, value)
  local n = 0
  for _, v in ipairs(list) do
    n = n + (v == value and 1 or 0)
  end
  return n
end

describe("feedhost over ZeroMQ", function()
  after_each(function()
    it_.cleanup()
  end)

  it("runs specs/dwx.lua against a DWX peer: commands on PUSH, prices and rates on SUB filtered"
    .. " by prefix, replies on PULL, malformed prices counted and skipped", function()
    local t = it_.tmpdir()
    local peer = brokers.dwx_peer(t, { "--untracked", "USDJPY", "--malformed", "7" })
    local fh = it_.feedhost(t, DWX, { "--trusted-spec", "--assets", "EURUSD,GBPUSD", "--stats-interval", "1" },
      peer:env({ DWX_HEARTBEAT = 0.5 }))
    it_.wait_for(function()
      local bars = 0
      for _, r in ipairs(fh:records()) do
        bars = bars + (r.channel == "data" and 1 or 0)
      end
      return #quote_seqs(fh, "EURUSD") >= 20 and bars >= 2 and count(peer:commands(), "HEARTBEAT;") >= 2
    end, 15, "20 EURUSD quotes, 2 bars and 2 heartbeats", fh, peer.proc)
    local cmds = peer:commands()
    assert.are.equal("TRACK_PRICES;EURUSD;GBPUSD", cmds[1])
    assert.are.equal("TRACK_RATES;EURUSD;1;GBPUSD;1", cmds[2])
    -- every price the peer published for EURUSD after the first record is a record, in order;
    -- the malformed ones (every 7th) are not, and USDJPY (not subscribed) never is
    local got = quote_seqs(fh, "EURUSD")
    local published, malformed = {}, {}
    for _, e in ipairs(peer:events("price")) do
      if e.symbol == "EURUSD" then
        published[e.seq] = true
      end
    end
    for _, e in ipairs(peer:events("malformed")) do
      malformed[e.seq] = true
    end
    for i, s in ipairs(got) do
      assert(published[s], "a record of a price never published: seq " .. s)
      assert(not malformed[s], "a record of a malformed price: seq " .. s)
      if i > 1 then
        assert(s > got[i - 1], "out of order at " .. i)
        for k = got[i - 1] + 1, s - 1 do
          assert(malformed[k], "price " .. k .. " was published and is missing")
        end
      end
    end
    assert.are.same({}, quote_seqs(fh, "USDJPY"))
    for _, r in ipairs(fh:records()) do
      assert(r.channel == "quote" or r.channel == "data", "unexpected " .. tostring(r.channel))
      if r.channel == "data" then
        assert.are.equal(60, r.interval)
        assert.is_number(r.data.open)
      end
    end
    -- the decode errors are counted and logged, the heartbeat answers are liveness, not records
    assert.is_truthy(fh:grep("decode at parser%.decode: a DWX message has 2 fields")[1])
    it_.wait_for(function()
      for _, l in ipairs(fh:stderr_lines()) do
        local e = tonumber(l:match("stats market_data: .* errors (%d+)"))
        if e and e >= 2 then
          return true
        end
      end
    end, 5, "errors counted in the stats line", fh)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("comes back to a DWX peer that restarts on the same ports and tracks its prices again", function()
    local t = it_.tmpdir()
    local peer = brokers.dwx_peer(t, {})
    local fh = it_.feedhost(t, DWX, { "--trusted-spec", "--assets", "EURUSD", "--stats-interval", "0" }, peer:env())
    it_.wait_for(function() return #quote_seqs(fh, "EURUSD") >= 5 end, 10, "5 quotes", fh, peer.proc)
    peer:stop()
    local peer2 = brokers.dwx_peer(t, {}, peer.ports)
    -- the peer's disconnect ends the session; the new one tracks EURUSD again
    it_.wait_for(function() return fh:grep("went away")[1] end, 10, "the lost peer", fh, peer2.proc)
    it_.wait_for(function() return peer2:commands()[1] == "TRACK_PRICES;EURUSD" end, 10,
      "TRACK_PRICES at the new peer", fh, peer2.proc)
    local before = #fh:records()
    it_.wait_for(function()
      local n = 0
      for _, e in ipairs(peer2:events("price")) do
        n = n + (e.symbol == "EURUSD" and 1 or 0)
      end
      return #fh:records() >= before + 5 and n >= 5
    end, 10, "5 quotes from the new peer", fh, peer2.proc)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("catches a peer that stays silent with heartbeat.idle_timeout and subscribes again", function()
    local t = it_.tmpdir()
    local peer = brokers.dwx_peer(t, { "--silent" })
    local fh = it_.feedhost(t, DWX, { "--trusted-spec", "--assets", "EURUSD", "--stats-interval", "0" },
      peer:env({ DWX_IDLE = 1 }))
    it_.wait_for(function() return count(peer:commands(), "TRACK_PRICES;EURUSD") >= 2 end, 15,
      "a second TRACK_PRICES", fh, peer.proc)
    assert.is_truthy(fh:grep("no data for [%d.]+s %(idle_timeout%): reconnecting")[1])
    assert.are.equal(0, #fh:records())
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("takes every message of a burst of multipart topic + payload messages, in order", function()
    local t = it_.tmpdir()
    local N = 50000
    -- an XPUB waits for the subscription (no slow-joiner loss), then sends N messages at once
    local pub = it_.peer(t, "publisher", { it_.PYTHON, "-c", [[
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.XPUB)
s.setsockopt(zmq.SNDHWM, 0)
port = s.bind_to_random_port("tcp://127.0.0.1")
print("PORT %d" % port, flush=True)
sub = s.recv()
print("SUB %r" % sub, flush=True)
for i in range(1, ]] .. N .. [[ + 1):
    s.send_multipart([b"trades/AAPL", b'{"t":1732633200000,"p":"101.5","s":%d}' % i])
    if i % 1000 == 0:
        s.send_multipart([b"trades/MSFT", b'{"t":1732633200000,"p":"301.5","s":%d}' % i])
print("SENT", flush=True)
sys.stdin.read()
]] }, nil, { log = false })
    local port = pub.port
    local spec = it_.write(t .. "/zfeed.lua", [[
return { name = "zfeed", streaming = { connections = { feed = {
  url = "tcp://127.0.0.1:]] .. port .. [[",
  backend = { type = "zmq", options = { socket_type = "SUB", rcvhwm = 0 } },
  streams = { "data" },
  subscribe = { subscribe = { data = { format = "json",
    topics = { source = "map(subscribe_assets, '|a| \"trades/\" .. a.symbol')" } } } },
  converters = { data = { { fields = {
    asset = { source = "broker.infer_asset{ symbol = split(topic, '/')[2] }" },
    timestamp = { source = "ts(data.t, 'ms')" },
    data = { price = { source = "num(data.p)" }, volume = { source = "num(data.s)" } },
  } } } },
} } } }
]])
    local fh = it_.feedhost(t, spec, { "--assets", "AAPL", "--stats-interval", "1", "--output", "ndjson" })
    it_.wait_for(function() return pub:stdout():find("SENT") end, 30, "the burst sent", pub, fh)
    assert.matches("SUB b'\\x01trades/AAPL'", pub:stdout())
    it_.wait_for(function()
      for _, l in ipairs(fh:stderr_lines()) do
        if l:find("stats feed: .* records " .. N .. " ") then
          return true
        end
      end
    end, 30, N .. " records", fh)
    local got = {}
    for _, r in ipairs(fh:records()) do
      assert.are.equal("AAPL", r.asset)   -- MSFT was never subscribed
      got[#got + 1] = r.data.volume
    end
    assert.are.equal(N, #got)
    for i = 1, N do
      if got[i] ~= i then
        error("message " .. i .. " is " .. tostring(got[i]))
      end
    end
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("takes messages on a PULL socket from a PUSH peer", function()
    local t = it_.tmpdir()
    local peer = it_.peer(t, "pusher", { it_.PYTHON, "-c", [[
import time, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.PUSH)
port = s.bind_to_random_port("tcp://127.0.0.1")
print("PORT %d" % port, flush=True)
for i in range(1, 1001):
    s.send(b'{"t":1732633200000,"p":"9.5","s":%d,"sym":"AAPL"}' % i)   # waits for the puller
print("SENT", flush=True)
time.sleep(30)
]] }, nil, { log = false })
    local port = peer.port
    local spec = it_.write(t .. "/pull.lua", [[
return { name = "pull", streaming = { connections = { feed = {
  url = "tcp://127.0.0.1:]] .. port .. [[",
  backend = { type = "zmq", options = { socket_type = "PULL" } },
  streams = { "data" },
  converters = { data = { { fields = {
    asset = { source = "broker.infer_asset{ symbol = data.sym }" },
    timestamp = { source = "ts(data.t, 'ms')" },
    data = { price = { source = "num(data.p)" }, volume = { source = "num(data.s)" } },
  } } } },
} } } }
]])
    local fh = it_.feedhost(t, spec, { "--assets", "AAPL", "--stats-interval", "0" })
    it_.wait_for(function() return #fh:records() >= 1000 end, 15, "1000 records", fh, peer)
    for i, r in ipairs(fh:records()) do
      assert.are.equal(i, r.data.volume)
    end
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("refuses a spec with a bad ZeroMQ endpoint at check time, naming the key", function()
    local t = it_.tmpdir()
    local spec = it_.write(t .. "/bad.lua", [[
return { name = "bad", streaming = { connections = { feed = {
  url = "tcp://127.0.0.1",
  backend = { type = "zmq", options = { command_endpoint = "127.0.0.1:32768" } },
  streams = { "data" },
} } } }
]])
    local p = io.popen(it_.shq(it_.BIN) .. " check " .. it_.shq(spec) .. " 2>&1; echo RC=$?")
    local out = p:read("*a")
    p:close()
    assert.matches("RC=2", out)
    assert.matches("streaming%.connections%.feed%.url: a ZeroMQ endpoint is tcp://host:port", out)
    assert.matches("streaming%.connections%.feed%.backend%.options%.command_endpoint: a ZeroMQ"
      .. " endpoint is", out)
  end)
end)
