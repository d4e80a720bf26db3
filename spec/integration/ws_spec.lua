-- Integration tests of `feedhost run` against real WebSocket servers on 127.0.0.1
-- (spec/integration/servers/ws_server.py, python3-websockets), each started and stopped by its test.
--
--   busted spec/integration            (FEEDHOST_BIN: the binary, default ./build/feedhost)
--
-- The server writes every event to a JSON-lines log (handshake path and headers, every frame it
-- received, closes, pings): the tests assert what the server saw, and the NDJSON records and
-- stderr of feedhost. Waits are conditions polled with a deadline, never bare sleeps.
local it_ = require("spec.helpers.integration")

local SPECS = "spec/integration/specs/"
local KEY = "AKIT-7Q2ZK9PLW"
local SECRET = "SKIT-s3cr3t-X9F4W2RMN"
-- needs escaping in a URL query: + / = & space %
local QSECRET = "SKIT+q/9=&z y%7Fx"

local AUTH = string.format([[{"action":"auth","key":"%s","secret":"%s"}]], KEY, SECRET)
local SUB_DATA = [[{"action":"subscribe","bars":["AAPL","MSFT"],"trades":["AAPL","MSFT"]}]]
local SUB_QUOTE = [[{"action":"subscribe","quotes":["AAPL","MSFT"]}]]

local function url_escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- temp dir + credentials file for one test
local function setup(secret)
  local t = it_.tmpdir()
  local creds = it_.write(t .. "/creds.json",
    it_.json_encode({ api_key = KEY, api_secret = secret or SECRET }))
  return t, creds
end

local function run(t, spec, srv, creds, extra, path)
  local args = { "--assets", "AAPL,MSFT", "--credentials", creds,
    "--url", "market_data=" .. srv:url(path or "/v2/iex"), "--stats-interval", "1" }
  for _, a in ipairs(extra or {}) do
    args[#args + 1] = a
  end
  return it_.feedhost(t, SPECS .. spec, args)
end

-- connection numbers (server side) of the successful handshakes, in order
local function connects(srv, status)
  local out = {}
  for _, e in ipairs(srv:events("connect")) do
    if status == nil or e.status == status then
      out[#out + 1] = e
    end
  end
  return out
end

-- trade records of one symbol: volume is the server's data sequence number
local function trade_seqs(fh, symbol)
  local out = {}
  for _, r in ipairs(fh:records()) do
    if r.channel == "data" and r.asset == symbol and type(r.data) == "table" then
      out[#out + 1] = r.data.volume
    end
  end
  return out
end

-- highest good sequence number seen (999999 marks the oversized frame's bogus trade)
local function max_seq(fh)
  local m = 0
  for _, s in ipairs(trade_seqs(fh, "AAPL")) do
    if s > m and s ~= 999999 then m = s end
  end
  return m
end

-- the server's data events, seq -> decoded items
local function server_data(srv)
  local out = {}
  for _, e in ipairs(srv:events("data")) do
    out[e.seq] = it_.json_decode(e.text)
  end
  return out
end

local function assert_no_secret(fh, ...)
  local secrets = { SECRET, QSECRET, url_escape(QSECRET), ... }
  for i, l in ipairs(fh:stderr_lines()) do
    for _, s in ipairs(secrets) do
      assert(not l:find(s, 1, true), string.format("stderr line %d shows a credential (%s): %s", i, s, l))
    end
  end
end

-- stats lines of stderr: `stats market_data: ... errors N reconnects N ...` -> list of tables
local function stats(fh)
  local out = {}
  for _, l in ipairs(fh:stderr_lines()) do
    local body = l:match("stats market_data: (.*)$")
    if body then
      local s = { line = l }
      for k, v in body:gmatch("([%a_/]+) ([%d%.]+)") do
        s[k] = tonumber(v)
      end
      out[#out + 1] = s
    end
  end
  return out
end

-- "2026-11-27T02:42:09.727671Z" -> "1795747329727671000" (exact, as a string)
local function iso_to_ns(iso)
  local y, mo, d, h, mi, sec, frac = iso:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)Z$")
  assert(y, "bad ISO time " .. iso)
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days from civil (proleptic Gregorian)
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (mo + (mo > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  local s = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
  return string.format("%d%s", s, (frac .. "000000000"):sub(1, 9))
end

-- times between consecutive events
local function gaps(events)
  local out = {}
  for i = 2, #events do
    out[#out + 1] = events[i].t - events[i - 1].t
  end
  return out
end

-- assert the given connection received exactly auth (optional) + the two subscribe frames first
local function assert_full_subscription(srv, conn, with_auth)
  local got = srv:received(conn)
  local want = with_auth and { AUTH, SUB_DATA, SUB_QUOTE } or { SUB_DATA, SUB_QUOTE }
  local head = {}
  for i = 1, #want do
    head[i] = got[i]
  end
  assert.are.same(want, head)
end

describe("feedhost over WebSocket", function()
  after_each(function()
    it_.cleanup()
  end)

  describe("auth", function()
    it("first_message: auth frame first, subscribe after the ack, records match the server's data,"
      .. " SIGTERM exits 0 with a close frame", function()
      local t, creds = setup()
      local srv = it_.server(t, { "--auth", "first_message", "--key", KEY, "--secret", SECRET, "--rate", "20" })
      -- debug level: the most talkative, still no credential may show
      local fh = run(t, "first_message.lua", srv, creds, { "--log-level", "debug" })
      it_.wait_for(function() return max_seq(fh) >= 6 end, 10, "trade records up to seq 6", fh, srv)

      local conns = connects(srv)
      assert.are.equal(1, #conns)
      assert.are.equal(101, conns[1].status)
      assert.are.equal("/v2/iex", conns[1].path)
      assert_full_subscription(srv, 1, true)

      -- the subscribe frames come only after the server acknowledged the auth
      local acked_at, first_sub_at
      for _, e in ipairs(srv:events()) do
        if e.ev == "send" and e.text:find('"authenticated"', 1, true) then acked_at = acked_at or e.t end
        if e.ev == "recv" and e.text:find('"subscribe"', 1, true) then first_sub_at = first_sub_at or e.t end
      end
      assert.is_truthy(acked_at and first_sub_at)
      assert.is_true(first_sub_at >= acked_at)

      -- every data item of seq 1..6 became a record with the server's values, in order
      local data = server_data(srv)
      local recs = fh:records()
      local by_key = {}
      local order = {}
      for _, r in ipairs(recs) do
        assert.are.equal("market_data", r.connection)
        if r.channel == "data" then
          by_key["t" .. r.asset .. r.data.volume] = r
          order[#order + 1] = r.data.volume
        elseif r.channel == "quote" then
          by_key["q" .. r.asset .. r.bid_volume] = r
        else
          error("unexpected channel " .. tostring(r.channel))
        end
      end
      for seq = 1, 6 do
        for _, item in ipairs(data[seq]) do
          local r = by_key[(item.T == "t" and "t" or "q") .. item.S .. seq]
          assert(r, "no record for " .. item.T .. " " .. item.S .. " seq " .. seq)
          assert.is_number(r.timestamp)
          if item.T == "t" then
            assert.are.equal(item.p, r.data.price)
          else
            assert.are.equal(item.bp, r.bid)
            assert.are.equal(item.ap, r.ask)
            assert.are.equal(item.as, r.ask_volume)
          end
        end
      end
      for i = 2, #order do
        assert(order[i] >= order[i - 1], "records out of order")
      end
      -- byte for byte: the NDJSON line of each trade, its price as the server wrote it and its
      -- ISO time as integer epoch nanoseconds
      local out = "\n" .. fh:stdout()
      for _, e in ipairs(srv:events("data")) do
        if e.seq <= 6 then
          for item in e.text:gmatch('{"T":"t".-}') do
            local sym, price, iso = item:match('"S":"(%u+)",.-"p":([^,]+),.-"t":"([^"]+)"')
            local want = string.format('{"channel":"data","connection":"market_data","asset":"%s",'
              .. '"data":{"price":%s,"volume":%d},"timestamp":%s}', sym, price, e.seq, iso_to_ns(iso))
            assert(out:find("\n" .. want .. "\n", 1, true), "no line " .. want .. " in stdout:" .. out)
          end
        end
      end

      fh:signal("TERM")
      assert.are.equal(0, fh:wait_exit(5))
      local close = it_.wait_for(function() return srv:events("close")[1] end, 3, "the server to see the close", srv)
      assert.are.equal("client", close.by)
      assert.are_not.equal(1006, close.code) -- a close frame, not a dropped socket
      assert_no_secret(fh)
    end)

    it("first_message rejected: error logged, no subscribe, retried with backoff (no tight loop)", function()
      local t, creds = setup()
      -- the server answers 402 and keeps the socket open for 5 s: only the host can end it
      local srv = it_.server(t, { "--auth", "first_message", "--key", KEY, "--secret", SECRET,
        "--reject-auth", "--reject-close-delay", "5" })
      local fh = run(t, "first_message.lua", srv, creds)
      it_.wait_for(function() return #connects(srv) >= 4 end, 8, "4 connection attempts", fh, srv)
      local c = connects(srv)
      local g = gaps(c)
      -- backoff: initial 0.2 (jitter 0.1), doubling, max 1
      for i, d in ipairs(g) do
        assert(d >= 0.15, string.format("attempt %d came %.3fs after the previous one", i + 1, d))
      end
      assert(g[3] > g[1] * 1.5, string.format("no backoff growth: gaps %.3f, %.3f, %.3f", g[1], g[2], g[3]))
      -- the host closed each rejected socket itself (the server would have waited 5 s)
      local closes = srv:events("close")
      assert(#closes >= 3, #closes .. " closes seen by the server")
      for _, e in ipairs(closes) do
        assert.are.equal("client", e.by)
      end
      for _, text in ipairs(srv:received()) do
        assert.are.equal(AUTH, text) -- never a subscribe after a reject
      end
      assert.are.equal(0, #fh:records())
      assert(#fh:grep("[Aa]uth.*reject") >= 1, "no 'auth rejected' line:\n" .. fh:stderr())
      assert.is_true(fh:running())
      assert_no_secret(fh)
    end)

    it("headers: the handshake carries them, no auth frame, records flow, SIGINT exits 0", function()
      local t, creds = setup()
      local srv = it_.server(t, { "--auth", "headers", "--key", KEY, "--secret", SECRET })
      local fh = run(t, "headers.lua", srv, creds)
      it_.wait_for(function() return max_seq(fh) >= 3 end, 10, "trade records up to seq 3", fh, srv)
      local c = connects(srv)
      assert.are.equal(1, #c)
      assert.are.equal(101, c[1].status) -- the server checked both headers
      assert.are.equal(KEY, c[1].headers["APCA-API-KEY-ID"])
      assert.are.equal(SECRET, c[1].headers["APCA-API-SECRET-KEY"])
      assert_full_subscription(srv, 1, false)
      fh:signal("INT")
      assert.are.equal(0, fh:wait_exit(5))
      assert_no_secret(fh)
    end)

    it("headers: a wrong secret gets HTTP 401 (server-side check)", function()
      local t, creds = setup("SKIT-wrong-Z81QP")
      local srv = it_.server(t, { "--auth", "headers", "--key", KEY, "--secret", SECRET })
      local fh = run(t, "headers.lua", srv, creds)
      it_.wait_for(function() return #connects(srv) >= 2 end, 8, "2 handshakes", fh, srv)
      for _, e in ipairs(connects(srv)) do
        assert.are.equal(401, e.status)
        assert.are.equal("SKIT-wrong-Z81QP", e.headers["APCA-API-SECRET-KEY"])
      end
      assert.are.equal(0, #fh:records())
      assert_no_secret(fh, "SKIT-wrong-Z81QP")
    end)

    it("url: query fields escaped and appended, records flow, the secret never logged", function()
      local t, creds = setup(QSECRET)
      local srv = it_.server(t, { "--auth", "query", "--key", KEY, "--secret", QSECRET })
      local fh = run(t, "url_query.lua", srv, creds, { "--log-level", "debug" })
      it_.wait_for(function() return max_seq(fh) >= 3 end, 10, "trade records up to seq 3", fh, srv)
      local c = connects(srv)
      assert.are.equal(1, #c)
      -- the server decoded exactly KEY and QSECRET from the query (else 401)
      assert.are.equal(101, c[1].status)
      assert.is_truthy(c[1].path:match("^/v2/iex%?"))
      assert.is_truthy(c[1].path:find("secret=" .. url_escape(QSECRET), 1, true)
        or c[1].path:find("secret=" .. url_escape(QSECRET):gsub("%%20", "+"), 1, true))
      assert_full_subscription(srv, 1, false)
      assert_no_secret(fh)
    end)
  end)

  describe("faults", function()
    it("server closes mid-stream (1011): reconnects, re-auths, resubscribes, records resume", function()
      local t, creds = setup()
      local srv = it_.server(t, { "--key", KEY, "--secret", SECRET, "--close-after", "8", "--faults", "1" })
      local fh = run(t, "faults.lua", srv, creds)
      it_.wait_for(function() return max_seq(fh) >= 14 end, 10, "records after the reconnect", fh, srv)
      local c = connects(srv)
      assert.are.equal(2, #c)
      local close = srv:events("close")[1]
      assert.are.equal(1011, close.code)
      assert.are.equal("server", close.by)
      assert_full_subscription(srv, 1, true)
      assert_full_subscription(srv, 2, true)
      assert(#fh:grep("1011") >= 1, "the close code is not logged:\n" .. fh:stderr())
      -- no record lost or repeated on the first connection; the second one continues
      local seqs = trade_seqs(fh, "MSFT")
      for i = 1, 8 do
        assert.are.equal(i, seqs[i])
      end
      it_.wait_for(function()
        local s = stats(fh)
        return #s > 0 and (s[#s].reconnects or 0) >= 1
      end, 4, "a stats line with reconnects >= 1", fh)
      assert.is_true(fh:running())
      assert_no_secret(fh)
    end)

    it("server drops the TCP connection: reconnects and resubscribes", function()
      local t, creds = setup()
      local srv = it_.server(t, { "--key", KEY, "--secret", SECRET, "--close-after", "5",
        "--close-mode", "drop", "--faults", "1" })
      local fh = run(t, "faults.lua", srv, creds)
      it_.wait_for(function() return max_seq(fh) >= 10 end, 10, "records after the reconnect", fh, srv)
      assert.are.equal(2, #connects(srv))
      assert.are.equal("drop", srv:events("close")[1].by)
      assert_full_subscription(srv, 2, true)
      assert_no_secret(fh)
    end)

    it("handshake refused with HTTP 401: the status is logged, retries back off", function()
      local t, creds = setup()
      local srv = it_.server(t, { "--http-status", "401" })
      local fh = run(t, "faults.lua", srv, creds)
      it_.wait_for(function() return #connects(srv) >= 4 end, 8, "4 handshake attempts", fh, srv)
      local g = gaps(connects(srv))
      for i, d in ipairs(g) do
        assert(d >= 0.15, string.format("attempt %d came %.3fs after the previous one", i + 1, d))
      end
      assert(g[3] > g[1] * 1.5, string.format("no backoff growth: gaps %.3f, %.3f, %.3f", g[1], g[2], g[3]))
      assert(#fh:grep("401") >= 1, "the HTTP status is not logged:\n" .. fh:stderr())
      assert.are.equal(0, #fh:records())
      assert.is_true(fh:running())
      assert_no_secret(fh)
    end)

    it("server goes silent (pings still answered): idle_timeout closes and reconnects", function()
      local t, creds = setup()
      local srv = it_.server(t, { "--key", KEY, "--secret", SECRET, "--silent-after", "4", "--faults", "1" })
      local fh = run(t, "faults.lua", srv, creds)
      it_.wait_for(function() return #connects(srv) >= 2 and max_seq(fh) >= 7 end, 12,
        "records from a second connection", fh, srv)
      local ev = srv:events()
      local last_data, silent_at, closed_at
      local pings = 0
      for _, e in ipairs(ev) do
        if e.conn == 1 then
          if e.ev == "data" then last_data = e.t end
          if e.ev == "silent" then silent_at = e.t end
          if e.ev == "ping" and silent_at then pings = pings + 1 end
          if e.ev == "close" then closed_at = e.t; assert.are.equal("client", e.by) end
        end
      end
      assert.is_truthy(last_data and silent_at and closed_at)
      -- heartbeat interval 1 s: the host kept pinging the silent server (and got pongs)
      assert(pings >= 1, "no WebSocket ping while the server was silent")
      -- idle_timeout 2 s, counted from the last data frame
      local idle = closed_at - last_data
      assert(idle >= 1.8 and idle <= 4, string.format("closed %.2fs after the last data frame", idle))
      assert_full_subscription(srv, 2, true)
      assert_no_secret(fh)
    end)

    it("malformed and oversized frames between good ones: counted, skipped, good records still come", function()
      local t, creds = setup()
      -- after good message k: malformed JSON (k % 3 == 1) or a 2 MB frame (k % 3 == 2), 3 of each
      local srv = it_.server(t, { "--key", KEY, "--secret", SECRET, "--bad-frames", "--bad-count", "3",
        "--rate", "10" })
      local fh = run(t, "faults.lua", srv, creds)
      it_.wait_for(function() return max_seq(fh) >= 12 end, 12, "trade records up to seq 12", fh, srv)
      local bad = srv:events("bad")
      assert.are.equal(6, #bad)
      -- every good message around the bad ones made its records, none is lost
      local seqs = trade_seqs(fh, "AAPL")
      for i = 1, 12 do
        assert.are.equal(i, seqs[i])
      end
      -- nothing of the oversized frames came through (p = 999999, s = 999999)
      for _, r in ipairs(fh:records()) do
        if r.channel == "data" then
          assert.are_not.equal(999999, r.data.price)
        end
      end
      -- the host kept its one connection and counts the bad frames
      assert.are.equal(1, #connects(srv))
      assert.is_true(fh:running())
      it_.wait_for(function()
        local s = stats(fh)
        return #s > 0 and (s[#s].errors or 0) >= 6 and s[#s]
      end, 4, "a stats line counting 6 errors (3 malformed + 3 oversized)", fh)
      assert_no_secret(fh)
    end)

    it("server restarts on the same port: the host reconnects and resubscribes in full", function()
      local t, creds = setup()
      local srv = it_.server(t, { "--key", KEY, "--secret", SECRET })
      local fh = run(t, "faults.lua", srv, creds)
      it_.wait_for(function() return max_seq(fh) >= 3 end, 10, "records from the first server", fh, srv)
      local port = srv.port
      srv:signal("KILL")
      assert.is_truthy(srv:wait_exit(5))
      -- wait until the host noticed, then bring the server back on the same port
      -- (the connection's own line: stats lines also carry the word "reconnects")
      it_.wait_for(function() return #fh:grep("reconnecting in") >= 1 end, 6,
        "the host to notice the loss", fh)
      local srv2 = it_.server(t, { "--port", tostring(port), "--key", KEY, "--secret", SECRET,
        "--seq-start", "1000" })
      assert.are.equal(port, srv2.port)
      it_.wait_for(function() return max_seq(fh) >= 1003 end, 10, "records from the restarted server", fh, srv2)
      assert.are.equal(1, #connects(srv2))
      assert_full_subscription(srv2, 1, true)
      -- MSFT too: the resubscription covered every asset
      local msft = trade_seqs(fh, "MSFT")
      assert.is_true(msft[#msft] > 1000)
      assert_no_secret(fh)
    end)
  end)

  describe("TLS", function()
    local function tls_run(t, creds, pki, extra)
      local srv = it_.server(t, { "--tls", pki.cert, pki.key, "--key", KEY, "--secret", SECRET }, { tls = true })
      assert.is_truthy(srv:url():match("^wss://"))
      if type(extra) == "function" then  -- options that need the server's address
        extra = extra(srv)
      end
      return srv, run(t, "first_message.lua", srv, creds, extra)
    end

    it("--ca-file with the test CA: connects over wss and gets records", function()
      local t, creds = setup()
      local pki = it_.make_ca(t, "ca")
      local srv, fh = tls_run(t, creds, pki, { "--ca-file", pki.ca })
      it_.wait_for(function() return max_seq(fh) >= 3 end, 10, "records over TLS", fh, srv)
      assert_full_subscription(srv, 1, true)
      assert_no_secret(fh)
    end)

    local function refused(extra_of, why, san)
      local t, creds = setup()
      local pki = it_.make_ca(t, "ca", san)
      local srv, fh = tls_run(t, creds, pki, function(server) return extra_of(t, pki, server) end)
      -- one refusal per attempt, saying why; wait for two (the host retries, with backoff)
      local refusals = it_.wait_for(function()
        local l = fh:grep("server certificate not accepted")
        return #l >= 2 and l
      end, 8, "two refused certificates logged", fh, srv)
      for _, l in ipairs(refusals) do
        assert(l:find(" ERROR ", 1, true), "not an error line: " .. l)
        assert(l:find("server certificate not accepted: " .. why, 1, true), "the log does not say why: " .. l)
      end
      -- no handshake reached the server's HTTP layer, nothing was sent, no records
      assert.are.equal(0, #connects(srv))
      assert.are.equal(0, #srv:received())
      assert.are.equal(0, #fh:records())
      assert.is_true(fh:running())
      assert_no_secret(fh)
    end

    it("without --ca-file the self-made certificate is refused", function()
      refused(function() return {} end, "unable to get local issuer certificate")
    end)

    it("with a different CA the certificate is refused", function()
      refused(function(t) return { "--ca-file", it_.make_ca(t, "other").ca } end,
        "unable to get local issuer certificate")
    end)

    it("a certificate for another host is refused, even from the trusted CA", function()
      -- the certificate names only feed.example; the host connects to 127.0.0.1
      refused(function(_, pki) return { "--ca-file", pki.ca } end, "IP address mismatch",
        "DNS:feed.example")
    end)

    it("--insecure connects anyway", function()
      local t, creds = setup()
      local pki = it_.make_ca(t, "ca")
      local srv, fh = tls_run(t, creds, pki, { "--insecure" })
      it_.wait_for(function() return max_seq(fh) >= 3 end, 10, "records over TLS with --insecure", fh, srv)
      assert_full_subscription(srv, 1, true)
    end)
  end)

  -- `feedhost run` has no way to change the assets of a running feed (no reload in this version),
  -- so unsubscribe is checked through the embedding API (DESIGN section 6), in this process.
  describe("embedded host", function()
    -- A host of feedhost.new `opts` (its log lines and records kept), closed after the test:
    -- host, pump(fn, timeout, what) that drives its loop until fn() holds, count(symbol) of its
    -- records, its records, its log lines.
    local function embedded(opts, srv)
      local lines, recs = {}, {}
      opts.log = require("feedhost.util.log").new({ level = "info", sink = function(l) lines[#lines + 1] = l end })
      opts.on_record = function(r) recs[#recs + 1] = r end
      local host, err = require("feedhost").new(opts)
      assert(host, err)
      finally(function() host:close() end)
      local function pump(fn, timeout, what)
        return it_.wait_for(function()
          host:step(20)
          return fn()
        end, timeout, what .. "\n" .. table.concat(lines, "\n"), srv)
      end
      local function count(symbol)
        local n = 0
        for _, r in ipairs(recs) do
          if r.asset and r.asset.symbol == symbol then n = n + 1 end
        end
        return n
      end
      return host, pump, count, recs, lines
    end

    it("host:unsubscribe sends the spec's unsubscribe frames, host:subscribe only what is new", function()
      local t = setup()
      local srv = it_.server(t, { "--key", KEY, "--secret", SECRET, "--rate", "20" })
      local host, pump, count, recs, lines = embedded({
        spec = SPECS .. "first_message.lua",
        credentials = { api_key = KEY, api_secret = SECRET },
        assets = { "AAPL", "MSFT" },
        urls = { market_data = srv:url("/v2/iex") },
      }, srv)
      pump(function() return count("MSFT") >= 4 end, 10, "MSFT records")
      assert_full_subscription(srv, 1, true)

      assert.is_true(host:unsubscribe({ "MSFT" }))
      pump(function() return #srv:received(1) >= 5 end, 5, "the unsubscribe frames")
      local got = srv:received(1)
      local removed = { got[4], got[5] }
      table.sort(removed)
      assert.are.same({
        [[{"action":"unsubscribe","bars":["MSFT"],"trades":["MSFT"]}]],
        [[{"action":"unsubscribe","quotes":["MSFT"]}]],
      }, removed)
      -- the server dropped MSFT: AAPL records go on; MSFT ones stop with the server's last MSFT data
      local aapl = count("AAPL")
      pump(function() return count("AAPL") >= aapl + 20 end, 5, "10 more AAPL messages")
      local last_msft_seq, last_seq = 0, 0
      for _, e in ipairs(srv:events("data")) do
        last_seq = e.seq
        if e.text:find('"MSFT"', 1, true) then last_msft_seq = e.seq end
      end
      assert(last_seq - last_msft_seq >= 5, "the server still sends MSFT data")
      for _, r in ipairs(recs) do
        if r.asset and r.asset.symbol == "MSFT" and r.channel == "data" then
          assert(r.data.volume <= last_msft_seq, "MSFT record of seq " .. r.data.volume .. " after the unsubscribe")
        end
      end

      assert.is_true(host:subscribe({ "MSFT" }))
      pump(function() return #srv:received(1) >= 7 end, 5, "the new subscribe frames")
      got = srv:received(1)
      local again = { got[6], got[7] }
      table.sort(again)
      assert.are.same({
        [[{"action":"subscribe","bars":["MSFT"],"trades":["MSFT"]}]],
        [[{"action":"subscribe","quotes":["MSFT"]}]],
      }, again)
      local msft = count("MSFT")
      pump(function() return count("MSFT") >= msft + 4 end, 5, "MSFT records again")
      assert.are.equal(1, #connects(srv)) -- all on the same connection
      for _, l in ipairs(lines) do
        assert(not l:find(SECRET, 1, true), "log line shows the secret: " .. l)
      end
    end)

    -- specs/bitfinex.lua (or `spec`, a copy) embedded against bitfinex_server.py, BTCUSD and
    -- ETHUSD live (records of both). Returns the host, pump, count and: answers(kind), what the
    -- server sent with that `event`, decoded; left(from), the client's unsubscribe frames from
    -- the from-th on, sorted; leave(pairs), the unsubscribe frames of the channels the latest
    -- subscribed answers gave `pairs`, sorted.
    local function bitfinex(spec)
      local t = setup()
      local srv = it_.peer(t, "bitfinex", { it_.PYTHON, "spec/integration/servers/bitfinex_server.py" },
        { "--rate", "20" })
      local host, pump, count = embedded({ spec = spec or "specs/bitfinex.lua",
        assets = { "BTCUSD", "ETHUSD" }, urls = { market_data = srv:url("/ws/2") } }, srv)
      local function answers(kind)
        local out = {}
        for _, e in ipairs(srv:events("send")) do
          local m = it_.json_decode(e.text)
          if m.event == kind then out[#out + 1] = m end
        end
        return out
      end
      local function left(from)
        local out = {}
        for _, text in ipairs(srv:received()) do
          if text:find('"unsubscribe"', 1, true) then out[#out + 1] = text end
        end
        out = { unpack(out, from) }
        table.sort(out)
        return out
      end
      local function leave(pairs_)
        local ids = {}
        for _, m in ipairs(answers("subscribed")) do
          ids[m.channel .. ":" .. m.symbol] = m.chanId
        end
        local out = {}
        for _, pair in ipairs(pairs_) do
          for _, channel in ipairs({ "trades", "ticker" }) do
            local id = ids[channel .. ":t" .. pair]
            assert.is_number(id)
            out[#out + 1] = string.format('{"event":"unsubscribe","chanId":%d}', id)
          end
        end
        table.sort(out)
        return out
      end
      pump(function() return count("ETHUSD") >= 4 and count("BTCUSD") >= 4 end, 10, "records of both pairs")
      return host, pump, count, answers, left, leave, srv
    end

    it("specs/bitfinex.lua: host:unsubscribe leaves each channel of the asset by the chanId of"
      .. " the server's subscribed answer, and a channel subscribed again by its new one", function()
      local host, pump, count, answers, left, leave, srv = bitfinex()
      local first = leave({ "ETHUSD" })
      assert.is_true(host:unsubscribe({ "ETHUSD" }))
      pump(function() return #answers("unsubscribed") == 2 end, 5, "two channels left")
      assert.are.same(first, left(1))
      assert.are.same({}, answers("error"))
      -- ETHUSD's records stop, BTCUSD's go on
      local eth, btc = count("ETHUSD"), count("BTCUSD")
      pump(function() return count("BTCUSD") >= btc + 10 end, 5, "more BTCUSD records")
      assert.are.equal(eth, count("ETHUSD"))

      assert.is_true(host:subscribe({ "ETHUSD" }))
      pump(function() return #answers("subscribed") == 6 end, 5, "ETHUSD subscribed again")
      local again = leave({ "ETHUSD" })
      assert.are_not.same(first, again)
      pump(function() return count("ETHUSD") >= eth + 4 end, 5, "ETHUSD records again")
      assert.is_true(host:unsubscribe({ "ETHUSD" }))
      pump(function() return #answers("unsubscribed") == 4 end, 5, "the new channels left")
      assert.are.same(again, left(3))
      assert.are.same({}, answers("error"))
      assert.are.equal(1, #srv:events("connect"))
    end)

    it("specs/bitfinex.lua reloaded with another subscribe message: the old channels are left by"
      .. " their ids, then subscribed anew, on the same connection", function()
      local t = it_.tmpdir()
      local text = it_.read("specs/bitfinex.lua")
      it_.write(t .. "/bitfinex_pairs.json", it_.read("specs/bitfinex_pairs.json"))
      local spec = it_.write(t .. "/bitfinex.lua", text)
      local host, pump, _, answers, left, leave, srv = bitfinex(spec)
      local old = leave({ "BTCUSD", "ETHUSD" })
      it_.write(spec, (text:gsub('"symbol":"{symbol}"', '"symbol":"{symbol}","freq":"F0"')))
      assert(host:reload())
      pump(function() return #answers("subscribed") == 8 end, 5, "four channels subscribed anew")
      assert.are.same(old, left(1))
      assert.are.equal(4, #answers("unsubscribed"))
      assert.are.same({}, answers("error"))
      local subs = {}
      for _, text_ in ipairs(srv:received()) do
        if text_:find('"freq":"F0"', 1, true) then subs[#subs + 1] = text_ end
      end
      assert.are.equal(4, #subs)
      assert.are.equal(1, #srv:events("connect"))
    end)
  end)
end)
