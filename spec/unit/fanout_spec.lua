-- Fan-out with outer context (frame = {each, with, when}), state written by hooks and read in
-- routers and converters, on the JSON fast path and on the general path (the same records).
local unit = require("spec.helpers.unit")
local schema = require("feedhost.spec.schema")
local specmod = require("feedhost.spec")
local record = require("feedhost.data.record")
local logmod = require("feedhost.util.log")

-- A pipeline of connection `conn` (registry: `reg`); run(...frames) gives the NDJSON lines of
-- the records made so far, P the pipeline.
local function pipeline_of(conn, reg, log)
  conn.url = "wss://feed.example/ws"
  local spec = { name = "f", registry = reg, streaming = { connections = { c = conn } } }
  local errs = schema.validate(spec, "f.lua")
  assert(#errs == 0, schema.format_errors(errs, "f.lua"))
  local lines = {}
  local compiled = assert(specmod.compile({ file = "f.lua", dir = ".", spec = spec }, {
    emit = function(r) lines[#lines + 1] = record.ndjson(r, r.channel, r.connection) end,
    log = log or logmod.new({ level = "error", sink = function() end }),
  }))
  local P = compiled.connections.c.pipeline
  local function run(...)
    P.run(unit.of({ ... }, 1700000000000000000LL))
    return lines
  end
  return run, P
end

-- `conn` with `key` set to `value` (the other keys shared)
local function with_key(conn, key, value)
  local c = { [key] = value }
  for k, v in pairs(conn) do
    c[k] = c[k] or v
  end
  return c
end

-- the same connection on the general frame path: an on_message hook that keeps every frame
local function general(conn)
  return with_key(conn, "hooks", with_key(conn.hooks or {}, "on_message", function() return nil end))
end

-- the same connection on the Lua-table path: a computed payload_path (Lua values, not the tape)
local function tables(conn)
  return with_key(conn, "parser", { payload_path = "data.inner ~= nil and data.inner or data" })
end

local KRAKEN = {
  streams = { "data", "quote" },
  frame = { each = "data.data", with = { ch = "data.channel", kind = "data.type" } },
  router = { rules = {
    { channel = "data", match = "ch == 'trade'" },
    { channel = "quote", match = "ch == 'ticker'" },
    { channel = "heartbeat", match = "ch == 'heartbeat'" },
    { channel = "info", match = "data.method ~= nil" },
  } },
  converters = {
    data = { { fields = { sym = { source = "data.symbol" }, px = { source = "data.price" },
      kind = { source = "kind" }, ts = { source = "ts(data.timestamp)" } } } },
    quote = { { fields = { sym = { source = "data.symbol" }, bid = { source = "data.bid" },
      from = { source = function(ctx) return ctx.ch .. "/" .. ctx.kind end } } } },
  },
}

local KRAKEN_FRAMES = {
  '{"method":"subscribe","result":{"channel":"trade","symbol":"MATIC/USD"},"success":true}',
  '{"channel":"trade","type":"snapshot","data":[{"symbol":"MATIC/USD","price":0.5147,"timestamp":"2023-09-25T07:48:36.925533Z"},'
    .. '{"symbol":"MATIC/USD","price":0.5148,"timestamp":"2023-09-25T07:49:36.925603Z"}]}',
  '{"channel":"heartbeat"}',
  '{"channel":"ticker","type":"update","data":[{"symbol":"ALGO/USD","bid":0.10025}]}',
  '{"channel":"trade","type":"update","data":[]}',
}

local KRAKEN_RECORDS = {
  '{"channel":"data","connection":"c","kind":"snapshot","px":0.5147,"sym":"MATIC/USD","ts":1695628116925533000}',
  '{"channel":"data","connection":"c","kind":"snapshot","px":0.5148,"sym":"MATIC/USD","ts":1695628176925603000}',
  '{"channel":"quote","connection":"c","bid":0.10025,"from":"ticker/update","sym":"ALGO/USD"}',
}

describe("fan-out with outer context", function()
  it("routes each element with the frame's values by name (Kraken v2)", function()
    local run, P = pipeline_of(KRAKEN)
    assert.are.same(KRAKEN_RECORDS, run(unpack(KRAKEN_FRAMES)))
    -- a frame without the list (ack, heartbeat) is routed whole; an empty list gives nothing
    assert.equal(1, P.stats.info)
    assert.equal(1, P.stats.heartbeats)
    assert.equal(0, P.stats.errors)
  end)

  it("makes the same records on the general frame path and over Lua tables", function()
    assert.are.same(KRAKEN_RECORDS, pipeline_of(general(KRAKEN))(unpack(KRAKEN_FRAMES)))
    assert.are.same(KRAKEN_RECORDS, pipeline_of(tables(KRAKEN))(unpack(KRAKEN_FRAMES)))
  end)

  it("walks lists of lists, alternatives per level, values of every level (Coinbase)", function()
    local conn = {
      streams = { "data", "quote" },
      frame = { each = { "data.events[*].trades", "data.events[*].tickers" },
        with = { ch = "data.channel", time = "data.timestamp", kind = "data.events[*].type" } },
      router = { rules = {
        { channel = "data", match = "ch == 'market_trades'" },
        { channel = "quote", match = "ch == 'ticker'" },
        { channel = "heartbeat", match = "ch == 'heartbeats'" },
      } },
      converters = {
        data = { { fields = { id = { source = "data.trade_id" }, kind = { source = "kind" } } } },
        quote = { { fields = { p = { source = "data.product_id" }, t = { source = "ts(time)" } } } },
      },
    }
    local frames = {
      '{"channel":"market_trades","timestamp":"2023-02-09T20:19:35.39625135Z","events":[{"type":"snapshot","trades":[{"trade_id":"1"},{"trade_id":"2"}]},{"type":"update","trades":[{"trade_id":"3"}]}]}',
      '{"channel":"ticker","timestamp":"2023-02-09T20:30:37.167359596Z","events":[{"type":"snapshot","tickers":[{"product_id":"BTC-USD"}]}]}',
      '{"channel":"heartbeats","timestamp":"2023-06-23T20:31:26.122969572Z","events":[{"heartbeat_counter":"3049"}]}',
    }
    local want = {
      '{"channel":"data","connection":"c","id":"1","kind":"snapshot"}',
      '{"channel":"data","connection":"c","id":"2","kind":"snapshot"}',
      '{"channel":"data","connection":"c","id":"3","kind":"update"}',
      '{"channel":"quote","connection":"c","p":"BTC-USD","t":1675974637167359596}',
    }
    local run, P = pipeline_of(conn)
    assert.are.same(want, run(unpack(frames)))
    assert.equal(1, P.stats.heartbeats) -- the event without a list, routed whole
    assert.are.same(want, pipeline_of(general(conn))(unpack(frames)))
    assert.are.same(want, pipeline_of(tables(conn))(unpack(frames)))
  end)

  it("fans out only the frames `when` holds for; hooks write state, routers read it (Bitfinex)", function()
    local conn = {
      streams = { "data", "quote" },
      frame = { each = "data[2]", with = { chan = "data[1]" },
        when = "state[data[1]] ~= nil and state[data[1]].channel == 'trades'" },
      hooks = { on_info = function(ctx)
        local d = ctx.data
        if d.event == "subscribed" then ctx.state[d.chanId] = { channel = d.channel, symbol = d.symbol } end
      end },
      router = { rules = {
        { channel = "info", match = "data.event ~= nil" },
        { channel = "heartbeat", match = "data[2] == 'hb'" },
        { channel = "data", match = "state[chan].channel == 'trades'" },
        { channel = "quote", match = "state[chan].channel == 'ticker'" },
      } },
      converters = {
        data = {
          { condition = "data[2] == 'te'", fields = { id = { source = "data[3][1]" }, s = { source = "state[chan].symbol" } } },
          { condition = "data[2] ~= 'tu'", fields = { id = { source = "data[1]" }, s = { source = "state[chan].symbol" } } },
        },
        quote = { { fields = { bid = { source = "data[2][1]" }, s = { source = "state[chan].symbol" } } } },
      },
    }
    local frames = {
      '{"event":"subscribed","channel":"trades","chanId":17082,"symbol":"tBTCUSD","pair":"BTCUSD"}',
      '{"event":"subscribed","channel":"ticker","chanId":224555,"symbol":"tETHUSD","pair":"ETHUSD"}',
      '[17082,[[401597393,1574694475039,0.005,7244.9],[401597392,1574694475000,-0.1,7244.8]]]',
      '[224555,[7616.5,31.89,7617.5,43.35,-550.8,-0.0674,7617.1,8314.71,8257.8,7500]]',
      '[17082,"te",[401597395,1574694478808,0.005,7245.3]]',
      '[17082,"hb"]',
    }
    local want = {
      '{"channel":"data","connection":"c","id":401597393,"s":"tBTCUSD"}',
      '{"channel":"data","connection":"c","id":401597392,"s":"tBTCUSD"}',
      '{"channel":"quote","connection":"c","bid":7616.5,"s":"tETHUSD"}',
      '{"channel":"data","connection":"c","id":401597395,"s":"tBTCUSD"}',
    }
    local run, P = pipeline_of(conn)
    assert.are.same(want, run(unpack(frames)))
    assert.equal(0, P.stats.errors)
    assert.equal(1, P.stats.heartbeats)
    assert.are.same(want, pipeline_of(general(conn))(unpack(frames)))
    assert.are.same(want, pipeline_of(tables(conn))(unpack(frames)))
    -- a new state (a new connection): the channel ids are unknown again
    local n = #run()
    P.run(unit.of({ frames[5] }), nil, {})
    assert.equal(n, #run())
    assert.equal(1, P.stats.errors) -- state[chan] is nil: counted where the router failed
  end)

  it("counts a failing element, goes on with the next, and logs the element of a long frame", function()
    local text = {}
    local log = logmod.new({ level = "debug", sink = function(l) text[#text + 1] = l end })
    local run, P = pipeline_of({ streams = { "data" }, frame = { each = "data.data" },
      converters = { data = { { fields = { p = { source = "num(data.p)" } } } } } }, nil, log)
    local pad = string.rep("x", 600)
    local out = run('{"pad":"' .. pad .. '","data":[{"p":1},{"p":"bad"},{"p":3}]}')
    assert.equal(2, #out)
    assert.equal(1, P.stats.errors)
    assert.equal(1, P.stats.error_paths["converters.data[1].fields.p"])
    local line = table.concat(text, "\n")
    assert.matches('@byte %d+: {"p":"bad"},{"p":3}%]}', line)
  end)

  it("reads a with value whose members are missing as nil, and compares it in C", function()
    local expr = require("feedhost.spec.expr")
    assert.equal('not _JEQT(ch, "trades")', expr.rewrite_tape("ch ~= 'trades'", false, "ch"))
    local run, P = pipeline_of({ streams = { "data" },
      frame = { each = "data.data", with = { ch = "data.arg.channel" } },
      router = { rules = { { channel = "info", match = "ch ~= 'trades'" } }, default_channel = "data" },
      converters = { data = { { fields = { v = { source = "data.v" } } } } } })
    assert.are.same({ '{"channel":"data","connection":"c","v":1}' },
      run('{"event":"subscribe"}', '{"arg":"flat"}', '{"arg":{"channel":"trades"},"data":[{"v":1}]}'))
    assert.equal(2, P.stats.info)
    assert.equal(0, P.stats.errors)
  end)

  it("refuses a with name that is a registry function's", function()
    local spec = { name = "f", registry = { pick = function() end }, streaming = { connections = { c = {
      url = "wss://x.example/ws", frame = { each = "data.d", with = { pick = "data.p" } } } } } }
    local _, errs = specmod.compile({ file = "f.lua", dir = ".", spec = spec }, {})
    assert.equal("f.lua: streaming.connections.c.frame.with.pick: 'pick' is a registry function's name:"
      .. " choose another", specmod.format_errors(errs, "f.lua"))
  end)

  it("hands with values to function sources and hooks as context names", function()
    local seen
    local conn = {
      streams = { "data" }, frame = { each = "data.items", with = { src = "data.src" } },
      router = { rules = { { channel = "info", match = "data.ack ~= nil" } }, default_channel = "data" },
      hooks = { on_info = { custom = "remember" } },
      converters = { data = { { fields = { v = { source = function(ctx) return ctx.src .. ":" .. ctx.data.v end } } } } },
    }
    local run = pipeline_of(conn, { remember = function(ctx) seen = ctx.src .. "/" .. tostring(ctx.data.ack) end })
    assert.are.same({ '{"channel":"data","connection":"c","v":"a:1"}' },
      run('{"src":"a","items":[{"v":1},{"ack":true}]}'))
    assert.equal("a/true", seen)
  end)

  it("builds no Lua table per frame or element on the fast path", function()
    local run, P = pipeline_of({ streams = { "data" }, frame = { each = "data.data", with = { ch = "data.channel" } },
      router = { rules = { { channel = "heartbeat", match = "ch == 'trade' and data.price > 0" } } } })
    local f = '{"channel":"trade","type":"update","data":[{"price":1.5,"qty":2},{"price":2.5,"qty":1},{"price":3.5,"qty":4}]}'
    local list = {}
    for i = 1, 256 do
      list[i] = f
    end
    local b = unit.of(list)
    for _ = 1, 20 do P.run(b) end -- warm up (traces)
    collectgarbage()
    collectgarbage("stop")
    local before = collectgarbage("count")
    for _ = 1, 100 do P.run(b) end
    local grown = collectgarbage("count") - before
    collectgarbage("restart")
    assert.equal(120 * 256 * 3, P.stats.heartbeats)
    -- 25,600 frames, 76,800 elements: a table each would be megabytes
    assert.is_true(grown < 64, "the fast path allocated " .. grown .. " KB")
    assert.is_nil(run()[1])
  end)
end)

describe("heartbeat.reply", function()
  it("counts a text reply as a heartbeat, never parsing it, on both paths", function()
    local conn = { streams = { "data" }, converters = { data = { { fields = { v = { source = "data.v" } } } } },
      heartbeat = { interval = 25, message = { format = "text", text = "ping" }, reply = "pong" } }
    for _, c in ipairs({ conn, general(conn) }) do
      local run, P = pipeline_of(c)
      assert.are.same({ '{"channel":"data","connection":"c","v":1}' }, run("pong", '{"v":1}', "pongs"))
      assert.equal(1, P.stats.heartbeats)
      assert.equal(1, P.stats.error_kinds.parse)
    end
  end)
end)

describe("fan-out in the schema", function()
  local function errors(frame)
    local spec = { name = "f", streaming = { connections = { c = { url = "wss://x.example/ws", frame = frame } } } }
    return schema.format_errors(schema.validate(spec, "f.lua"), "f.lua")
  end
  local P = "f.lua: streaming.connections.c.frame"

  it("suggests the keys and names the path that is wrong", function()
    assert.equal(P .. ".each: required key is missing\n" .. P .. ".eahc: unknown key (did you mean 'each'?)",
      errors({ eahc = "data.data" }))
    assert.matches(P .. ".each: 'data.events[*.trades' is not a key path", errors({ each = "data.events[*.trades" }), 1, true)
    assert.matches(P .. ".each: 'payload.data' is not a key path", errors({ each = "payload.data" }), 1, true)
  end)

  it("refuses with names expressions already have, and [*] that do not follow each", function()
    assert.matches(P .. ".with.topic: 'topic' is a name expressions already have",
      errors({ each = "data.data", with = { topic = "data.topic" } }), 1, true)
    assert.matches(P .. ".with.p: 'p' is a name of the generated code",
      errors({ each = "data.data", with = { p = "data.p" } }), 1, true)
    assert.matches(P .. ".with.kind: 'data.items[*].type': a [*] in a with path must follow the each path",
      errors({ each = "data.events[*].trades", with = { kind = "data.items[*].type" } }), 1, true)
    assert.matches(P .. ".each[2]: every alternative needs the same number of levels",
      errors({ each = { "data.a[*].b", "data.c" } }), 1, true)
    assert.equal("", errors({ each = { "data.a[*].b", "data.a[*].c" }, with = { t = "data.a[*].t" } }))
  end)

  it("refuses every numbered temporary the generators emit as a with name, and only those", function()
    -- a1 i1 (fan-out loops), c1 l1 (batch loop), t1 ok_t1 F1 (codegen), o1 (codegen_out)
    for _, name in ipairs({ "a1", "c2", "i3", "l1", "o1", "o12", "t1", "ok_t1", "F1", "F10" }) do
      assert.matches(P .. ".with." .. name .. ": '" .. name .. "' is a name of the generated code",
        errors({ each = "data.data", with = { [name] = "data.x" } }), 1, true)
    end
    for _, name in ipairs({ "b1", "f1", "O1", "o", "F", "o1x" }) do
      assert.equal("", errors({ each = "data.data", with = { [name] = "data.x" } }))
    end
  end)
end)
