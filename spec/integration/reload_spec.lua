-- Hot reload under a steady stream: `feedhost run` against python3-websockets servers
-- (spec/integration/servers/ws_server.py) on 127.0.0.1, the spec file rewritten while it runs.
-- What the server saw (handshakes, frames received, closes) and what feedhost wrote (records,
-- stats and reload lines) are checked; every wait has a deadline.
local it_ = require("spec.helpers.integration")

local KEY, SECRET = "AKTEST", "SKTEST"
local SYMBOLS = "map(subscribe_assets, '|a| a.symbol')"

-- One connection of the test spec: Alpaca-like auth, trades of every asset on `data`.
-- o: url, quotes (subscribe quotes too), fields (extra converter fields, Lua source text), setup
-- (a setup message's `flags`)
local function conn_source(o)
  local quotes = o.quotes and (", quotes = { source = %q }"):format(SYMBOLS) or ""
  local function message(action)
    return ([[{ format = "json", order = { "action" }, json = { fields = {
          action = { value = %q }, trades = { source = %q }%s } } }]]):format(action, SYMBOLS, quotes)
  end
  return ([[{
      url = %q,
      streams = { "data" },
      frame = "array",
      auth = { mode = "first_message", first_message = { format = "json", order = { "action" },
        json = { fields = { action = { value = "auth" }, key = { source = "credentials.api_key" },
          secret = { source = "credentials.api_secret" } } } },
        ack = "data[1] and data[1].msg == 'authenticated'" },
      %s
      subscribe = { subscribe = { data = %s }, unsubscribe = { data = %s } },
      router = { rules = { { channel = "data", match = "data.T == 't'" } } },
      converters = { data = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = data.S }" },
        timestamp = { source = "ts(data.t)" },
        data = { price = { source = "num(data.p)" }, volume = { source = "num(data.s)" } },
        %s
      } } } },
      reconnect = { initial = 0.2, max = 1, factor = 2, jitter = 0.1, stable_after = 1 },
    }]]):format(o.url, o.setup and ("setup = { format = 'json', order = { 'action' }, json = { fields = {"
      .. " action = { value = 'conf' }, flags = { value = %d } } } },"):format(o.setup) or "",
      message("subscribe"), message("unsubscribe"), o.fields or "")
end

-- The spec text. o: conns = { {name, url, fields, quotes}, ... }, head (text before `return`),
-- tail (text added at the spec's top level)
local function spec_source(o)
  local conns = {}
  for _, c in ipairs(o.conns) do
    conns[#conns + 1] = ("    %s = %s,"):format(c.name, conn_source(c))
  end
  return ([[%s
return {
  name = "reload_test",
  credentials = { fields = { "api_key", "api_secret" } },
  %s
  streaming = { connections = {
%s
  } },
}
]]):format(o.head or "", o.tail or "", table.concat(conns, "\n"))
end

local function setup()
  local t = it_.tmpdir()
  os.execute("mkdir -p " .. it_.shq(t .. "/specs") .. " " .. it_.shq(t .. "/registry"))
  local creds = it_.write(t .. "/creds.json", it_.json_encode({ api_key = KEY, api_secret = SECRET }))
  return t, t .. "/specs/live.lua", creds
end

local function start(t, spec, creds, extra)
  local args = { "--assets", "AAPL", "--credentials", creds, "--stats-interval", "0.5" }
  for _, a in ipairs(extra or {}) do
    args[#args + 1] = a
  end
  return it_.feedhost(t, spec, args)
end

-- trade records of AAPL from connection `conn` (default any): their volumes (the server's seq)
local function seqs(fh, conn)
  local out = {}
  for _, r in ipairs(fh:records()) do
    if r.channel == "data" and (conn == nil or r.connection == conn) then
      out[#out + 1] = r
    end
  end
  return out
end

-- A server (started with `server_args`) and feedhost running a spec of one connection to it
-- (`conn`, changed and saved again by the test), until `n` trade records came out.
-- @return spec path, server, conn, feedhost
local function streaming(server_args, n, fh_args)
  local t, spec, creds = setup()
  local srv = it_.server(t, server_args)
  local conn = { name = "market_data", url = srv:url("/v2/iex") }
  it_.save(spec, spec_source({ conns = { conn } }))
  local fh = start(t, spec, creds, fh_args)
  it_.wait_for(function() return #seqs(fh) >= n end, 10, n .. " trade records", fh, srv)
  return spec, srv, conn, fh
end

local function connects(srv)
  return srv:events("connect")
end

describe("hot reload under a steady stream", function()
  after_each(function()
    it_.cleanup()
  end)

  it("a converter changed: records change at once, the server sees no new connection, every frame"
    .. " in is processed across the swap", function()
    -- 100 data messages a second, then silence after 250: every frame sent can be counted
    local spec, srv, conn, fh = streaming({ "--rate", "100", "--silent-after", "250" }, 60)
    conn.fields = "rev = { value = 2 },"
    it_.save(spec, spec_source({ conns = { conn } }))
    local lines = it_.wait_reloads(fh, 1, "the reload", srv)
    assert.matches("reload %(.*live%.lua changed%): market_data: converters changed, pipeline swapped %(", lines[1])
    it_.wait_for(function() return #srv:events("silent") == 1 end, 10, "the server's 250 data messages",
      fh, srv)
    -- every frame the server sent reached the pipeline: the stats line counts them all
    local sent = #srv:events(function(e) return (e.ev == "send" or e.ev == "data") and e.conn == 1 end)
    it_.wait_for(function()
      local st = fh:last_stats("market_data")
      return st and st.frames == sent
    end, 5, sent .. " frames in the stats line", fh, srv)
    local recs = seqs(fh)
    assert.are.equal(250, #recs)   -- one record per data message, none lost or doubled
    local swapped_at
    for i, r in ipairs(recs) do
      assert.are.equal(i, r.data.volume)
      if r.rev and not swapped_at then
        swapped_at = i
      end
      assert.are.equal(swapped_at ~= nil, r.rev == 2, "records after the swap all have rev")
    end
    assert.is_truthy(swapped_at and swapped_at > 60 and swapped_at < 250)
    assert.are.equal(1, #connects(srv))
    local st = fh:last_stats("market_data")
    assert.are.equal(0, st.reconnects)
    assert.are.equal(0, st.errors)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("a URL changed: the connection reconnects to the new server at once", function()
    local t, spec, creds = setup()
    local a = it_.server(t, { "--rate", "50" })
    local b = it_.server(t, { "--rate", "50" })
    local conn = { name = "market_data", url = a:url("/v2/iex") }
    it_.save(spec, spec_source({ conns = { conn } }))
    local fh = start(t, spec, creds)
    it_.wait_for(function() return #seqs(fh) >= 10 end, 10, "records from server A", fh, a)
    conn.url = b:url("/v2/iex")
    it_.save(spec, spec_source({ conns = { conn } }))
    local lines = it_.wait_reloads(fh, 1, "the reload", a, b)
    assert.matches("market_data: url changed, reconnecting", lines[1])
    it_.wait_for(function() return #b:events("data") >= 10 end, 10, "data from server B", fh, b)
    local closes = a:events("close")
    assert.are.equal(1, #closes)
    assert.are.equal("client", closes[1].by)
    assert.are.equal(1000, closes[1].code)
    assert.are.equal(1, #connects(b))
    -- B got the auth and the subscription, without a backoff in between
    assert.matches('"action":"auth"', b:received(1)[1])
    assert.matches('"action":"subscribe"', b:received(1)[2])
    assert.is_true(connects(b)[1].t - closes[1].t < 1.0)
  end)

  it("a subscribe message changed: the old subscription is withdrawn and the new one sent on the"
    .. " same connection", function()
    local spec, srv, conn, fh = streaming({ "--rate", "50" }, 10)
    conn.quotes = true
    it_.save(spec, spec_source({ conns = { conn } }))
    local lines = it_.wait_reloads(fh, 1, "the reload", srv)
    assert.matches("market_data: subscribe changed, resubscribing", lines[1])
    it_.wait_for(function() return #srv:received(1) >= 4 end, 10, "the new subscription", fh, srv)
    local got = srv:received(1)
    assert.are.same({
      '{"action":"auth","key":"AKTEST","secret":"SKTEST"}',
      '{"action":"subscribe","trades":["AAPL"]}',
      '{"action":"unsubscribe","trades":["AAPL"]}',
      '{"action":"subscribe","quotes":["AAPL"],"trades":["AAPL"]}',
    }, got)
    assert.are.equal(1, #connects(srv))
    -- the server now sends quotes too: they reach the pipeline (unrouted here, no error)
    it_.wait_for(function()
      for _, e in ipairs(srv:events("data")) do
        if e.text:find('"T":"q"', 1, true) then
          return true
        end
      end
    end, 5, "quotes from the server", fh, srv)
  end)

  it("a setup message changed: the connection starts a new session that sends it", function()
    local spec, srv, conn, fh = streaming({ "--rate", "50" }, 5)
    conn.setup = 1
    it_.save(spec, spec_source({ conns = { conn } }))
    local lines = it_.wait_reloads(fh, 1, "the reload", srv)
    assert.matches("market_data: setup changed, reconnecting", lines[1])
    it_.wait_for(function() return #srv:received(2) >= 3 end, 10, "the second session's frames", fh, srv)
    assert.are.same({
      '{"action":"auth","key":"AKTEST","secret":"SKTEST"}',
      '{"action":"conf","flags":1}',
      '{"action":"subscribe","trades":["AAPL"]}',
    }, srv:received(2))
    assert.are.equal(2, #connects(srv))
    assert.are.equal(2, #srv:received(1))   -- auth and subscribe: no setup on the old session
  end)

  it("a syntax error, then a schema error: the running spec stays, each error named by file and"
    .. " key path; the corrected spec is taken", function()
    local spec, srv, conn, fh = streaming({ "--rate", "50" }, 5)
    local good = spec_source({ conns = { conn } })
    it_.write(spec, good:gsub("frame = \"array\",", "frame = \"array\"", 1))   -- a missing comma
    it_.wait_for(function() return #fh:grep("reload %(.*%) failed") >= 1 end, 10, "the failed reload", fh)
    local syntax = fh:grep("ERROR reload")[1]
    assert.matches("live%.lua: %(syntax%): .*live%.lua:%d+: '}' expected", syntax)
    local before = #seqs(fh)
    it_.wait_for(function() return #seqs(fh) >= before + 20 end, 10, "records from the old spec", fh)
    it_.write(spec, good:gsub("converters = ", "convertors = ", 1))
    it_.wait_for(function() return #fh:grep("reload %(.*%) failed") >= 2 end, 10, "the second failed reload", fh)
    local schema = fh:grep("streaming%.connections%.market_data%.convertors")
    assert.are.equal(1, #schema, "the schema error: " .. fh:stderr())
    assert.matches("ERROR reload %(.*%): .*live%.lua: streaming%.connections%.market_data%.convertors:"
      .. " unknown key %(did you mean 'converters'%?%)", schema[1])
    before = #seqs(fh)
    it_.wait_for(function() return #seqs(fh) >= before + 20 end, 10, "records from the old spec", fh)
    assert.are.equal(1, #connects(srv))
    it_.save(spec, spec_source({ conns = { { name = "market_data", url = conn.url, fields = "rev = { value = 3 }," } } }))
    it_.wait_for(function()
      local recs = seqs(fh)
      return #recs > 0 and recs[#recs].rev == 3
    end, 10, "records of the corrected spec", fh)
    assert.are.equal(1, #connects(srv))
  end)

  it("a connection removed is closed, one added is opened; the others go on", function()
    local t, spec, creds = setup()
    local srv = it_.server(t, { "--rate", "50" })
    local a = { name = "alpha", url = srv:url("/a") }
    local b = { name = "beta", url = srv:url("/b") }
    it_.save(spec, spec_source({ conns = { a, b } }))
    local fh = start(t, spec, creds)
    it_.wait_for(function() return #seqs(fh, "alpha") >= 5 and #seqs(fh, "beta") >= 5 end, 10,
      "records of both connections", fh, srv)
    local c = { name = "gamma", url = srv:url("/c") }
    it_.save(spec, spec_source({ conns = { a, c } }))
    local lines = it_.wait_reloads(fh, 1, "the reload", srv)
    assert.matches("alpha: unchanged, pipeline swapped", lines[1])
    assert.matches("gamma: new, opening", lines[1])
    assert.matches("beta: gone from the spec, closing", lines[1])
    it_.wait_for(function() return #seqs(fh, "gamma") >= 5 end, 10, "records of the new connection", fh, srv)
    local paths = {}
    for _, e in ipairs(connects(srv)) do
      paths[#paths + 1] = e.path
    end
    table.sort(paths)
    assert.are.same({ "/a", "/b", "/c" }, paths)
    local beta_conn
    for _, e in ipairs(connects(srv)) do
      if e.path == "/b" then
        beta_conn = e.conn
      end
    end
    local closes = srv:events(function(e) return e.ev == "close" and e.conn == beta_conn end)
    assert.are.equal(1, #closes)
    assert.are.equal("client", closes[1].by)
    -- beta's stats line is gone once it closed; alpha never reconnected
    local n = #fh:stderr_lines()
    it_.wait_for(function() return #fh:stderr_lines() > n + 4 end, 5, "more stats lines", fh)
    local tail = {}
    for i = n + 1, #fh:stderr_lines() do
      tail[#tail + 1] = fh:stderr_lines()[i]
    end
    assert.is_nil(table.concat(tail, "\n"):find("stats beta:", 1, true))
    assert.are.equal(0, fh:last_stats("alpha").reconnects)
  end)

  it("a registry module the spec requires changed: its functions reload with the spec", function()
    local t, spec, creds = setup()
    local srv = it_.server(t, { "--rate", "50" })
    local module = t .. "/registry/tags.lua"
    it_.write(module, 'return { tag = function(ctx) return "v1" end }\n')
    local conn = { name = "market_data", url = srv:url("/v2/iex"), fields = 'tag = { custom = "tag" },' }
    it_.save(spec, spec_source({ conns = { conn }, tail = 'registry = require("registry.tags"),' }))
    local fh = start(t, spec, creds)
    it_.wait_for(function()
      local recs = seqs(fh)
      return #recs >= 5 and recs[#recs].tag == "v1"
    end, 10, "records tagged v1", fh, srv)
    it_.save(module, 'return { tag = function(ctx) return "v2" end }\n')
    local lines = it_.wait_reloads(fh, 1, "the reload", srv)
    assert.matches("reload %(.*registry/tags%.lua changed%): registry changed; market_data: unchanged, pipeline swapped", lines[1])
    it_.wait_for(function()
      local recs = seqs(fh)
      return recs[#recs].tag == "v2"
    end, 10, "records tagged v2", fh, srv)
    assert.are.equal(1, #connects(srv))
  end)

  it("SIGHUP reloads (with --no-watch, a change alone does not)", function()
    local spec, srv, conn, fh = streaming({ "--rate", "50" }, 5, { "--no-watch" })
    conn.fields = "rev = { value = 7 },"
    it_.save(spec, spec_source({ conns = { conn } }))
    local n = #seqs(fh)
    it_.wait_for(function() return #seqs(fh) >= n + 25 end, 10, "half a second of records", fh)
    assert.are.equal(0, #fh:reload_lines())
    fh:signal("HUP")
    local lines = it_.wait_reloads(fh, 1, "the reload on SIGHUP", srv)
    assert.matches("reload %(SIGHUP%): market_data: converters changed, pipeline swapped", lines[1])
    it_.wait_for(function()
      local recs = seqs(fh)
      return recs[#recs].rev == 7
    end, 10, "records of the new spec", fh)
    assert.is_true(fh:running())
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)
end)
