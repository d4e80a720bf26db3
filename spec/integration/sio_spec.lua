-- Integration tests of `feedhost run` against real Socket.IO servers on 127.0.0.1, each started
-- and stopped by its test: npm socket.io 4 (spec/integration/servers/sio_server.js; Engine.IO 4,
-- and Engine.IO 3 with allowEIO3) and python3-socketio (sio_server.py, Engine.IO 4).
-- The servers log every connect (with its auth and query), join, leave and data event: the tests
-- assert what the server saw, and the records and stderr of feedhost. Waits are conditions polled
-- with a deadline, never bare sleeps.
local it_ = require("spec.helpers.integration")

local SPECS = "spec/integration/specs/"
local TOKEN = "TOK-sio-5Zq8W3"

local function node_server(t, args, opts)
  return it_.peer(t, "sio_node", { "node", "spec/integration/servers/sio_server.js" }, args, opts)
end

local function py_server(t, args)
  return it_.peer(t, "sio_py", { it_.PYTHON, "spec/integration/servers/sio_server.py" }, args)
end

local function run(t, spec, srv, token, extra)
  local creds = it_.write(t .. "/creds.json", it_.json_encode({ token = token or TOKEN }))
  local args = { "--assets", "AAPL,MSFT", "--credentials", creds,
    "--url", "ticks=http://127.0.0.1:" .. srv.port, "--stats-interval", "1" }
  for _, a in ipairs(extra or {}) do
    args[#args + 1] = a
  end
  return it_.feedhost(t, SPECS .. spec, args)
end

-- quote records by the server's sequence number (bid_volume)
local function quotes(fh)
  local out, n = {}, 0
  for _, r in ipairs(fh:records()) do
    if r.channel == "quote" then
      out[r.bid_volume] = r
      n = n + 1
    end
  end
  return out, n
end

local function count(fh)
  local _, n = quotes(fh)
  return n
end

-- the server's events of a kind on connection `conn` (all when nil)
local function events(srv, kind, conn)
  return srv:events(function(e) return e.ev == kind and (conn == nil or e.conn == conn) end)
end

local function joined(srv, conn)
  local codes = {}
  for _, e in ipairs(events(srv, "join", conn)) do
    for _, c in ipairs(e.codes) do
      codes[#codes + 1] = c
    end
  end
  table.sort(codes)
  return table.concat(codes, ",")
end

local function assert_no_secret(fh)
  for i, l in ipairs(fh:stderr_lines()) do
    assert(not l:find(TOKEN, 1, true), string.format("stderr line %d shows the token: %s", i, l))
  end
end

-- the values of the quote records of the sio_v* specs: the asset is the code after "4.1!"
local function sio_quote(e, r)
  assert.are.equal(e.code:sub(5), r.asset)
  assert.are.equal(100 + e.seq / 100, r.bid)
  assert.are.equal(100.5 + e.seq / 100, r.ask)
end

-- every data event the server sent on connection `conn` (all when nil) became a quote record
-- with its values, checked by `check(event, record)` (default sio_quote); at least 4 are checked
local function assert_records_match(srv, fh, conn, check)
  check = check or sio_quote
  local recs = quotes(fh)
  local checked = 0
  for _, e in ipairs(events(srv, "data", conn)) do
    local r = recs[e.seq]
    if r then
      checked = checked + 1
      check(e, r)
    end
  end
  assert.is_true(checked >= 4, "records matched to the server's data: " .. checked)
end

describe("feedhost over Socket.IO", function()
  after_each(function()
    it_.cleanup()
  end)

  it("Engine.IO 4 (npm socket.io): CONNECT with the auth payload, join seen by the server, events"
    .. " to records, SIGTERM leaves the namespace and exits 0", function()
    local t = it_.tmpdir()
    local srv = node_server(t, { "--token", TOKEN, "--rate", "20" })
    local fh = run(t, "sio_v4.lua", srv, nil, { "--log-level", "debug" })
    it_.wait_for(function() return count(fh) >= 10 end, 10, "10 quote records", fh, srv)
    local c = events(srv, "connect")
    assert.are.equal(1, #c)
    assert.are.equal(4, c[1].eio)
    assert.are.same({ user = "U1", token = TOKEN }, c[1].auth)
    assert.are.equal("4.1!AAPL,4.1!MSFT", joined(srv, 1))
    assert_records_match(srv, fh, 1)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
    it_.wait_for(function() return #events(srv, "disconnect") == 1 end, 5, "the server's disconnect", srv)
    assert.are.equal("client namespace disconnect", events(srv, "disconnect")[1].reason)
    assert_no_secret(fh)
  end)

  it("Engine.IO 3 (socket.io with allowEIO3): the token in the query, client pings keep the"
    .. " session past pingInterval + pingTimeout", function()
    local t = it_.tmpdir()
    local srv = node_server(t, { "--eio3", "--token", TOKEN, "--rate", "10",
      "--ping-interval", "400", "--ping-timeout", "300" })
    local fh = run(t, "sio_v3.lua", srv)
    it_.wait_for(function() return count(fh) >= 40 end, 15, "40 quote records", fh, srv)
    local c = events(srv, "connect")
    assert.are.equal(1, #c, "one session only: the server never timed the client out")
    assert.are.equal(3, c[1].eio)
    assert.are.equal(TOKEN, c[1].query.token)
    assert.are.equal("U1", c[1].query.userID)
    assert.are.equal("4.1!AAPL,4.1!MSFT", joined(srv, 1))
    assert_records_match(srv, fh, 1)
    assert_no_secret(fh)
  end)

  it("a custom namespace: CONNECT, join and events on /md", function()
    local t = it_.tmpdir()
    local srv = node_server(t, { "--token", TOKEN, "--rate", "20", "--namespace", "/md" })
    local fh = run(t, "sio_ns.lua", srv)
    it_.wait_for(function() return count(fh) >= 6 end, 10, "6 quote records", fh, srv)
    assert.are.equal("4.1!AAPL,4.1!MSFT", joined(srv, 1))
    assert_records_match(srv, fh, 1)
  end)

  it("a rejected auth (connect_error) is retried with growing backoff, never in a tight loop",
    function()
    local t = it_.tmpdir()
    local srv = node_server(t, { "--token", TOKEN })
    local fh = run(t, "sio_v4.lua", srv, "wrong-token")
    it_.wait_for(function() return #events(srv, "connect") >= 4 end, 10, "4 refused connects", fh, srv)
    local c = events(srv, "connect")
    for _, e in ipairs(c) do
      assert.is_false(e.ok)
    end
    -- reconnect 0.2 s, factor 2, max 1 s (jitter 0.1): gaps grow
    assert.is_true(c[3].t - c[2].t > (c[2].t - c[1].t) * 1.3, "backoff grows")
    assert.are.equal(0, #events(srv, "join"))
    assert.are.equal(0, #fh:records())
    assert.is_true(#fh:grep("refused the session: connect_error: Not authorized") >= 3)
  end)

  it("binary attachments become base64 strings; a malformed packet between good ones is counted"
    .. " and skipped", function()
    local t = it_.tmpdir()
    local srv = node_server(t, { "--token", TOKEN, "--rate", "20", "--binary-every", "4",
      "--malformed-every", "7" })
    local fh = run(t, "sio_v4.lua", srv)
    it_.wait_for(function()
      return #events(srv, "malformed") >= 2 and #events(srv, "binary") >= 3 and count(fh) >= 20
    end, 10, "malformed and binary events between good ones", fh, srv)
    local blobs = {}
    for _, r in ipairs(fh:records()) do
      if r.channel == "trade" then
        blobs[r.seq] = r
      end
    end
    for _, e in ipairs(events(srv, "binary")) do
      local r = blobs[e.seq]
      if r then
        assert.are.equal("blob", r.event)
        -- bytes seq & 255, 1, 2, 3
        local want = require("feedhost.sys.ffi").base64(string.char(e.seq % 256, 1, 2, 3))
        assert.are.equal(want, r.bytes)
      end
    end
    assert.is_true(next(blobs) ~= nil, "binary events became records")
    it_.wait_for(function() return #fh:grep("parse: invalid JSON") >= 1 end, 5, "the parse error logged", fh)
    -- records keep coming after the bad packets
    local last_bad = events(srv, "malformed")[2].seq
    it_.wait_for(function()
      for seq in pairs(quotes(fh)) do
        if seq > last_bad then return true end
      end
    end, 5, "records after the malformed packet", fh, srv)
  end)

  for _, eio in ipairs({ 4, 3 }) do
    it("Engine.IO " .. eio .. ": the server stops the heartbeat; the client gives up, reconnects"
      .. " and joins again", function()
      local t = it_.tmpdir()
      local args = { "--token", TOKEN, "--rate", "10", "--ping-interval", "400",
        "--ping-timeout", "300", "--mute-after", "1" }
      if eio == 3 then
        args[#args + 1] = "--eio3"
      end
      local srv = node_server(t, args)
      local fh = run(t, "sio_v" .. eio .. ".lua", srv)
      it_.wait_for(function() return joined(srv, 2) == "4.1!AAPL,4.1!MSFT" end, 10,
        "a second session that joined again", fh, srv)
      assert.is_true(#events(srv, "muted", 1) == 1)
      assert.is_true(#fh:grep("after a ping: reconnecting") >= 1)
      local n = count(fh)
      it_.wait_for(function() return count(fh) > n + 5 end, 5, "records from the new session", fh, srv)
    end)
  end

  it("a server-side disconnect (41) mid-stream: reconnect, every subscription restored", function()
    local t = it_.tmpdir()
    local srv = node_server(t, { "--token", TOKEN, "--rate", "20", "--disconnect-after", "6" })
    local fh = run(t, "sio_v4.lua", srv)
    it_.wait_for(function() return joined(srv, 2) == "4.1!AAPL,4.1!MSFT" end, 10,
      "the second session's join", fh, srv)
    assert.are.equal(1, #events(srv, "server_disconnect"))
    assert.is_true(#fh:grep("the server disconnected") >= 1)
    it_.wait_for(function() return #events(srv, "data", 2) >= 6 end, 5, "data on session 2", fh, srv)
    it_.wait_for(function()
      local recs = quotes(fh)
      for _, e in ipairs(events(srv, "data", 2)) do
        if recs[e.seq] then return true end
      end
    end, 5, "records from session 2", fh, srv)
  end)

  it("a server restart on the same port: reconnect and join again", function()
    local t = it_.tmpdir()
    local srv = node_server(t, { "--token", TOKEN, "--rate", "20" })
    local fh = run(t, "sio_v4.lua", srv)
    it_.wait_for(function() return count(fh) >= 4 end, 10, "records", fh, srv)
    srv:stop()
    local n = count(fh)
    local srv2 = node_server(t, { "--token", TOKEN, "--rate", "20", "--port", tostring(srv.port) })
    it_.wait_for(function() return joined(srv2, 1) == "4.1!AAPL,4.1!MSFT" end, 10,
      "the join on the restarted server", fh, srv2)
    it_.wait_for(function() return count(fh) >= n + 4 end, 5, "records after the restart", fh, srv2)
  end)

  it("specs/xts.lua (Engine.IO 3): query auth, subscriptions over HTTP seen by the server with"
    .. " their headers (Host with the port, as the handshake's) and body, a 503 retried with"
    .. " backoff, JSON-string events to records", function()
    local t = it_.tmpdir()
    local srv = node_server(t, { "--eio3", "--rate", "10", "--path", "/apimarketdata/socket.io",
      "--rest-fail", "1" })
    local creds = it_.write(t .. "/creds.json", it_.json_encode({ token = TOKEN, user_id = "U77" }))
    local fh = it_.feedhost(t, "specs/xts.lua", { "--assets", "RELIANCE,INFY", "--credentials", creds,
      "--url", "market_data=http://127.0.0.1:" .. srv.port, "--stats-interval", "1" })
    it_.wait_for(function() return count(fh) >= 6 end, 15, "6 quote records", fh, srv)
    local c = events(srv, "connect")[1]
    assert.are.equal(3, c.eio)
    assert.are.equal(TOKEN, c.query.token)
    assert.are.equal("U77", c.query.userID)
    assert.are.equal("JSON", c.query.publishFormat)
    local host = "127.0.0.1:" .. srv.port   -- not the scheme's default port: RFC 9110 7.2
    assert.are.equal(host, c.headers.host)
    it_.wait_for(function() return #events(srv, "http") >= 3 end, 10,
      "two subscriptions over HTTP, the refused one again", fh, srv)
    local calls = events(srv, "http")
    assert.are.equal(503, calls[1].status)
    local codes = {}
    for _, h in ipairs(calls) do
      assert.are.equal("POST", h.method)
      assert.are.equal(host, h.headers.host)
      assert.are.equal("/apimarketdata/instruments/subscription", h.path)
      assert.are.equal(TOKEN, h.headers.authorization)
      assert.are.equal("application/json", h.headers["content-type"])
      local body = it_.json_decode(h.body)
      assert.are.same({ { exchangeInstrumentID = 2885, exchangeSegment = 1 },
        { exchangeInstrumentID = 1594, exchangeSegment = 1 } }, body.instruments)
      if h.status == 200 then
        codes[body.xtsMessageCode] = true
      end
    end
    assert.are.same({ [1501] = true, [1512] = true }, codes)
    assert.is_true(#fh:grep("HTTP 503") >= 1)
    assert_records_match(srv, fh, nil, function(e, r)
      assert.are.equal(e.code == "1_2885" and "RELIANCE" or "INFY", r.asset)
      assert.are.equal(100 + e.seq / 100, r.bid)
    end)
    assert_no_secret(fh)
  end)

  it("--record writes each event's name as the frame's topic; replay makes the same records",
    function()
    local t = it_.tmpdir()
    local srv = node_server(t, { "--token", TOKEN, "--rate", "20", "--binary-every", "5" })
    local cap = t .. "/capture.ndjson"
    local fh = run(t, "sio_v4.lua", srv, nil, { "--record", cap })
    it_.wait_for(function() return #fh:records() >= 12 end, 10, "12 records", fh, srv)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
    local live = it_.lines(fh.out)
    local topics = {}
    for _, line in ipairs(it_.lines(cap)) do
      local e = it_.json_decode(line)
      if e.dir == "in" then
        topics[e.topic] = true
      end
    end
    assert.are.same({ stock = true, blob = true }, topics)
    local p = io.popen(it_.shq(it_.BIN) .. " replay " .. SPECS .. "sio_v4.lua " .. it_.shq(cap)
      .. " --assets AAPL,MSFT 2>/dev/null")
    local replayed = {}
    for line in p:lines() do
      replayed[#replayed + 1] = line
    end
    p:close()
    assert.are.same(live, replayed)
  end)

  it("specs/breeze.lua against python3-socketio: the CONNECT payload, join of stock codes,"
    .. " Breeze's positional ticks to quote records", function()
    local t = it_.tmpdir()
    local srv = py_server(t, { "--token", TOKEN, "--rate", "20", "--breeze" })
    local creds = it_.write(t .. "/creds.json", it_.json_encode({ user_id = "U9", session_token = TOKEN }))
    local fh = it_.feedhost(t, "specs/breeze.lua", { "--assets", "RELIANCE,INFY", "--credentials", creds,
      "--url", "ticks=http://127.0.0.1:" .. srv.port, "--stats-interval", "1" })
    it_.wait_for(function() return #fh:records() >= 6 end, 10, "6 quote records", fh, srv)
    assert.are.same({ user = "U9", token = TOKEN }, events(srv, "connect")[1].auth)
    assert.are.equal("4.1!1594,4.1!2885", joined(srv, 1))
    assert_records_match(srv, fh, nil, function(e, r)
      assert.are.equal(e.code == "4.1!2885" and "RELIANCE" or "INFY", r.asset)
      assert.are.equal(100 + e.seq / 100, r.bid)
      assert.are.equal(99.8, r.close)
    end)
    assert_no_secret(fh)
  end)

  it("python3-socketio: CONNECT auth, join, JSON arguments sent as strings decoded like any other",
    function()
    local t = it_.tmpdir()
    local srv = py_server(t, { "--token", TOKEN, "--rate", "20", "--string-args" })
    local fh = run(t, "sio_v4.lua", srv)
    it_.wait_for(function() return count(fh) >= 8 end, 10, "8 quote records", fh, srv)
    assert.are.same({ user = "U1", token = TOKEN }, events(srv, "connect")[1].auth)
    assert.are.equal("4.1!AAPL,4.1!MSFT", joined(srv, 1))
    assert_records_match(srv, fh, 1)
    assert_no_secret(fh)
  end)
end)
