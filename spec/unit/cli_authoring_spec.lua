-- Clear answers of `check` and `replay` for spec authors: universes, setup and `all` shown by
-- check; replay of a capture with other connection names, --connection matching nothing, --assets
-- restricting records, converter errors with a frame sample on every path.
local cli = require("spec.helpers.cli")

local SPEC = [[
return {
  name = "author",
  streaming = { connections = {
    md = {
      url = "wss://feed.example/ws",
      streams = { "data", "quote" },
      setup = { { format = "text", text = "hello" },
        { format = "json", json = { fields = { op = { value = "conf" }, flags = { value = 32768 } } } } },
      subscribe = { subscribe = { all = { format = "json", json = { fields = {
        op = { value = "sub" }, args = { source = "map(subscribe_assets, '|a| a.symbol')" } } } } } },
      frame = { each = "data.data", with = { ch = "data.channel" } },
      router = { rules = { { channel = "quote", match = "ch == 'q'" } }, default_channel = "data" },
      converters = {
        data = { { fields = { asset = { source = "broker.infer_asset{ symbol = data.s }" },
          price = { source = "num(data.p)" } } } },
        quote = { { fields = { asset = { source = "broker.infer_asset{ symbol = data.s }" } } } },
      },
    },
    orders = {
      url = "wss://feed.example/orders",
      -- the hook hands the pipeline Lua tables (the general path, over tables)
      hooks = { on_message = function(ctx)
        return { id = ctx.message:match('"id":"(%w+)"'), q = ctx.message:match('"q":"(%w+)"') }
      end },
      converters = { order = { { fields = { order_id = { source = "data.id" },
        qty = { source = "num(data.q)" } } } } },
    },
  } },
}
]]

local function capture(lines)
  local out = {}
  for i, l in ipairs(lines) do
    out[i] = string.format('{"ts":%d,"connection":"%s","dir":"in","text":%q}', 1700000000000000000 + i,
      l[1], l[2]):gsub("\\\n", "\\n")
  end
  return cli.file(table.concat(out, "\n") .. "\n", ".ndjson")
end

describe("check for spec authors", function()
  after_each(cli.cleanup)

  it("shows each connection's universe, the setup messages and an `all` subscription as such", function()
    local code, out, err = cli.run({ "check", cli.file(SPEC, ".lua"), "--assets", "BTC,ETH" })
    assert.are.equal(0, code, err)
    assert.matches("\n  universe: default %(open: assets by symbol, no master data%)\n", out)
    assert.matches('\n  > setup: hello\n  > setup: {"flags":32768,"op":"conf"}\n', out, 1, true)
    assert.matches('\n  > subscribe all: {"args":["BTC","ETH"],"op":"sub"}\n', out, 1, true)
    assert.is_nil(out:find("subscribe data", 1, true))
    -- the setup message comes after auth (none here) and before the subscriptions
    assert.is_true(out:find("> setup", 1, true) < out:find("> subscribe", 1, true))
  end)

  it("names the universe and the --assets it knows, for a spec with universes", function()
    local code, out, err = cli.run({ "check", "spec/fixtures/master/two_markets.lua", "--assets", "BTCUSDT,SOLUSDT" })
    assert.are.equal(0, code, err)
    assert.matches("connection linear .-universe: linear %(2 assets from bybit_linear.json; of %-%-assets: BTCUSDT, SOLUSDT%)", out)
    assert.matches("connection spot .-universe: spot %(2 assets from bybit_spot.json; of %-%-assets: BTCUSDT%)", out)
    assert.matches('> subscribe data: {"args":["publicTrade.BTCUSDT"],"op":"subscribe"}', out, 1, true)
    code, _, err = cli.run({ "check", "spec/fixtures/master/two_markets.lua", "--assets", "DOGEUSDT" })
    assert.are.equal(2, code)
    assert.matches("no asset with symbol 'DOGEUSDT' in any universe (linear, spot, master_data)", err, 1, true)
  end)
end)

describe("replay for spec authors", function()
  after_each(cli.cleanup)

  it("exits 2 when no frame is for a connection of the spec, naming both sides", function()
    local cap = capture({ { "market_data", '{"data":[]}' }, { "market_data", "{}" }, { "trading", "{}" } })
    local code, out, err = cli.run({ "replay", cli.file(SPEC, ".lua"), cap })
    assert.are.equal(2, code)
    assert.are.equal("", out)
    assert.matches("no frame for a connection of the spec (md, orders): the capture has frames for"
      .. " 'market_data' (2 frames), 'trading' (1 frames)", err, 1, true)
  end)

  it("says so when --connection matches no frame", function()
    local cap = capture({ { "md", '{"data":[{"s":"BTC","p":"1"}]}' } })
    local code, _, err = cli.run({ "replay", cli.file(SPEC, ".lua"), cap, "--connection", "orders" })
    assert.are.equal(2, code)
    assert.matches("no frame for --connection orders: the capture has frames for 'md' (1 frames)", err, 1, true)
  end)

  it("writes only the records of --assets", function()
    local cap = capture({ { "md", '{"channel":"t","data":[{"s":"BTC","p":"1"},{"s":"ETH","p":"2"}]}' },
      { "md", '{"channel":"q","data":[{"s":"ETH"},{"s":"BTC"}]}' }, { "orders", '{"id":"o1","q":"3"}' } })
    local code, out, err = cli.run({ "replay", cli.file(SPEC, ".lua"), cap, "--assets", "BTC" })
    assert.are.equal(0, code, err)
    local lines = {}
    for l in out:gmatch("[^\n]+") do
      lines[#lines + 1] = l
    end
    assert.are.same({
      '{"channel":"data","connection":"md","asset":"BTC","price":1}',
      '{"channel":"quote","connection":"md","asset":"BTC"}',
      '{"channel":"order","connection":"orders","order_id":"o1","qty":3}',
    }, lines)
    assert.matches("2 records of other assets than --assets left out", err, 1, true)
  end)

  it("logs converter errors with a sample of the frame on the fast and the general path", function()
    local cap = capture({ { "md", '{"channel":"t","data":[{"s":"BTC","p":"one"}]}' },
      { "orders", '{"id":"o2","q":"three"}' } })
    local code, _, err = cli.run({ "replay", cli.file(SPEC, ".lua"), cap })
    assert.are.equal(0, code, err)
    assert.matches('[md] expression at converters.data[1].fields.price: num: expected a number or'
      .. ' numeric string, got string "one" | {"channel":"t","data":[{"s":"BTC","p":"one"}]}', err, 1, true)
    assert.matches('[orders] expression at converters.order[1].fields.qty: num: expected a number or'
      .. ' numeric string, got string "three" | {"id":"o2","q":"three"}', err, 1, true)
  end)
end)
