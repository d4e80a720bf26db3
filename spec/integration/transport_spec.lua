-- WebSocket transport details against a python3-websockets server: messages split into several
-- frames are reassembled; a large message arrives whole, with and without permessage-deflate;
-- records out to a pipe whose reader is slower than a burst.
require("feedhost.core")
local ffi = require("ffi")
local feedhost = require("feedhost")
local reactor = require("feedhost.runtime.reactor")
local logmod = require("feedhost.util.log")

local PY = "/usr/bin/python3"
local SERVER = "spec/integration/servers/frames_server.py"

local function start_server(args)
  local errfile = os.tmpname()
  local p = assert(io.popen(PY .. " " .. SERVER .. " " .. (args or "") .. " 2>" .. errfile
    .. " & echo PID $!", "r"))
  local pid = tonumber(p:read("*l"):match("PID (%d+)"))
  local port = tonumber(p:read("*l"):match("PORT (%d+)"))
  return { pid = pid, port = port, pipe = p, errfile = errfile }
end

local function stop_server(s)
  os.execute("kill " .. s.pid .. " 2>/dev/null")
  s.pipe:close()
  local f = io.open(s.errfile)
  local err = f and f:read("*a") or ""
  if f then
    f:close()
  end
  os.remove(s.errfile)
  return err
end

local function run(args, deflate)
  local srv = start_server(args)
  local records = {}
  local lines = {}
  local conn_spec = "spec/integration/specs/transport.lua"
  local host = assert(feedhost.new({ spec = conn_spec, assets = { "AAPL", "MSFT", "TSLA" },
    urls = { feed = "ws://127.0.0.1:" .. srv.port .. "/" },
    log = logmod.new({ level = "debug", sink = function(l) lines[#lines + 1] = l end }),
    on_record = function(r) records[#records + 1] = r end,
    adjust = function(spec)
      spec.streaming.connections.feed.backend.options.deflate = deflate
    end }))
  local deadline = reactor.now() + 10
  while reactor.now() < deadline and #records < 3003 do
    host:step(50)
  end
  local st = host:stats().feed
  host:close()
  local err = stop_server(srv)
  return records, st, err, lines
end

describe("websocket transport", function()
  for _, deflate in ipairs({ true, false }) do
    it("reassembles fragmented and large messages (deflate offered: " .. tostring(deflate) .. ")", function()
      local records, st, err = run("", deflate)
      assert.equal(3003, #records)
      assert.equal("AAPL", records[1].asset.symbol)
      assert.equal(101.5, records[1].data.price)
      assert.equal(102.5, records[2].data.price)
      assert.equal("MSFT", records[3].asset.symbol)
      assert.equal("TSLA", records[3003].asset.symbol)
      assert.equal(3, st.frames)   -- three messages, whatever the frames on the wire
      assert.equal(0, st.errors)
      if deflate then
        assert.matches("extensions:permessage%-deflate", err)
      else
        assert.matches("extensions:\n", err)
      end
    end)
  end

  it("closes a peer that stops answering pings and reconnects", function()
    local p = assert(io.popen(PY .. " spec/integration/servers/deaf_server.py & echo PID $!", "r"))
    local pid = tonumber(p:read("*l"):match("PID (%d+)"))
    local port = tonumber(p:read("*l"):match("PORT (%d+)"))
    local lines, records = {}, 0
    local host = assert(feedhost.new({ spec = "spec/integration/specs/transport.lua", assets = { "AAPL" },
      urls = { feed = "ws://127.0.0.1:" .. port .. "/" },
      log = logmod.new({ level = "debug", sink = function(l) lines[#lines + 1] = l end }),
      on_record = function() records = records + 1 end,
      adjust = function(spec)
        spec.streaming.connections.feed.backend.options = { ping_interval = 0.3, ping_timeout = 0.5 }
        spec.streaming.connections.feed.reconnect = { initial = 0.1, max = 0.1, jitter = 0 }
      end }))
    local connects = 0
    local deadline = reactor.now() + 8
    while reactor.now() < deadline and (connects < 2 or records < 2) do
      host:step(50)
      connects = host:stats().feed.reconnects + 1
    end
    host:close()
    os.execute("kill " .. pid .. " 2>/dev/null")
    p:close()
    assert.is_true(connects >= 2, "reconnected")
    assert.is_true(records >= 2, "a record from each connection")
    local timed_out = false
    for _, l in ipairs(lines) do
      timed_out = timed_out or l:match("after a ping: reconnecting") ~= nil
    end
    assert.is_true(timed_out)
  end)

  it("turns a live binary feed (Kite) into the same records as replaying its capture", function()
    local capture = "specs/captures/kite.ndjson"
    local outfile = os.tmpname()
    local p = assert(io.popen(PY .. " spec/integration/servers/capture_server.py " .. capture
      .. " >" .. outfile .. " & echo PID $!", "r"))
    local pid = tonumber(p:read("*l"):match("PID (%d+)"))
    local function server_lines()
      local f = io.open(outfile)
      local t = {}
      for l in f:lines() do
        t[#t + 1] = l
      end
      f:close()
      return t
    end
    local deadline = reactor.now() + 5
    while reactor.now() < deadline and not (server_lines()[1] or ""):match("^PORT") do
      os.execute("sleep 0.05")
    end
    local port = tonumber(server_lines()[1]:match("PORT (%d+)"))
    local record = require("feedhost.data.record")
    local function strip(line)  -- LTP records are stamped with the receive time
      return (line:gsub('"timestamp":%d+', '"timestamp":_'))
    end
    -- the capture's "in" frames, replayed
    local src = assert(io.open(capture)):read("*a")
    local replayed = {}
    local specmod = require("feedhost.spec")
    local loaded = assert(specmod.load("specs/kite.lua"))
    local compiled = assert(specmod.compile(loaded, { credentials = { api_key = "kk", access_token = "tt" },
      emit = function(r) replayed[#replayed + 1] = strip(record.ndjson(r, r.channel, r.connection)) end }))
    require("feedhost.runtime.replay").run(compiled, src, { connection = "market_data" })
    -- the same frames live
    local live = {}
    local host = assert(feedhost.new({ spec = "specs/kite.lua", connections = { "market_data" },
      credentials = { api_key = "kk", access_token = "tt" },
      assets = { "INFY", "RELIANCE", "NIFTY 50", "NIFTY BANK", "USDINR24DECFUT" },
      urls = { market_data = "ws://127.0.0.1:" .. port .. "/" },
      log = logmod.new({ level = "none" }),
      on_record = function(r) live[#live + 1] = strip(record.ndjson(r, r.channel, r.connection)) end }))
    deadline = reactor.now() + 10
    while reactor.now() < deadline and #live < #replayed do
      host:step(50)
    end
    host:close()
    os.execute("kill " .. pid .. " 2>/dev/null")
    p:close()
    local lines = server_lines()
    os.remove(outfile)
    assert.is_true(#replayed > 5)
    assert.same(replayed, live)
    -- url auth: the query carries both credentials; then the capture's subscribe and mode frames
    assert.equal("PATH /?access_token=tt&api_key=kk", lines[2])
    assert.matches('^GOT {"a":"subscribe","v":%[', lines[3])
    assert.matches('^GOT {"a":"mode","v":%["full",%[', lines[4])
  end)

  -- A burst (3003 records, about 360 KB, then nothing for 30 s) into a pipe (64 KB) whose reader
  -- takes 16 KB at a time: what the pipe did not take goes out as soon as the reader has made
  -- room, not at the next frame or timer (the liveness tick, 0.2 s: 20 such rounds, 4 s); a reader
  -- that goes away while lines wait stops the host at once with the reason.
  it("writes what a full pipe did not take as soon as its reader makes room", function()
    ffi.cdef([[
      int fh_test_pipe2(int fds[2], int flags) __asm__("pipe2");
      long fh_test_read(int fd, void *buf, size_t n) __asm__("read");
      int fh_test_close(int fd) __asm__("close");
    ]])
    local fds = ffi.new("int[2]")
    assert.equal(0, ffi.C.fh_test_pipe2(fds, 524288))   -- O_CLOEXEC: the server must not hold it
    local rd = fds[0]
    local srv = start_server("--no-deflate")
    local output = require("feedhost.runtime.output").ndjson({ fd = fds[1], name = "pipe" })
    local host = assert(feedhost.new({ spec = "spec/integration/specs/transport.lua",
      assets = { "AAPL", "MSFT", "TSLA" }, urls = { feed = "ws://127.0.0.1:" .. srv.port .. "/" },
      log = logmod.new({ level = "none" }), output = output }))
    local buf = ffi.new("char[16384]")
    local lines, first_at = 0, nil
    local deadline = reactor.now() + 15
    while lines < 3003 and reactor.now() < deadline do
      host:step(2000)
      if output.waiting() or output.stats().lines > lines then   -- lines in the pipe: read 16 KB
        local n = tonumber(ffi.C.fh_test_read(rd, buf, 16384))
        for i = 0, n - 1 do
          lines = lines + (buf[i] == 10 and 1 or 0)
        end
        first_at = first_at or reactor.now()
      end
    end
    local took = reactor.now() - (first_at or 0)
    assert.equal(3003, lines)
    assert.is_true(took < 2, string.format("the burst reached the reader in %.2f s", took))
    -- lines waiting again (the reader is gone before it reads them): the next step ends at once
    host:stop()
    host.stop_deadline = nil
    for _ = 1, 2000 do
      output.write({ channel = "data", connection = "feed", n = ("x"):rep(64) })
    end
    host:flush()
    assert.is_true(output.waiting())
    ffi.C.fh_test_close(rd)
    local t0 = reactor.now()
    host:step(5000)
    assert.is_true(reactor.now() - t0 < 2, "the host saw the reader go at once")
    assert.matches("pipe: Broken pipe", host.failed or "")
    host:close()
    ffi.C.fh_test_close(fds[1])
    stop_server(srv)
  end)
end)
