local record = require("feedhost.data.record")
local json = require("feedhost.util.json")

local function asset(symbol)
  return setmetatable({ symbol = symbol, broker_symbol = symbol .. ".O", exchange = "NASDAQ" }, { __name = "Asset" })
end

describe("feedhost.data.record", function()
  it("writes channel, connection, then the fields sorted by key", function()
    local line = record.ndjson({
      timestamp = 1614009105335689322LL,
      asset = asset("AAPL"),
      bid = 126.55,
      ask = 126.6,
      bid_volume = 100,
      ask_volume = 200.0,
      last = 1573.15,
    }, "quote", "market_data")
    assert.equals('{"channel":"quote","connection":"market_data","ask":126.6,"ask_volume":200,'
      .. '"asset":"AAPL","bid":126.55,"bid_volume":100,"last":1573.15,'
      .. '"timestamp":1614009105335689322}', line)
  end)

  it("sorts nested tables and writes arrays", function()
    local line = record.ndjson({
      asset = asset("MSFT"),
      market_depth = { bids = { { 1.5, 10 }, { 1.4, 20 } }, asks = {} },
      data = { volume = 5, price = 0.1 },
    }, "data", "md")
    assert.equals('{"channel":"data","connection":"md","asset":"MSFT","data":{"price":0.1,"volume":5},'
      .. '"market_depth":{"asks":[],"bids":[[1.5,10],[1.4,20]]}}', line)
  end)

  it("does not duplicate channel/connection from the record; the arguments win", function()
    local line = record.ndjson({ channel = "x", connection = "y", order_id = "42" }, "order", "trading")
    assert.equals('{"channel":"order","connection":"trading","order_id":"42"}', line)
    line = record.ndjson({ channel = "x", order_id = "42" }, nil, "trading")
    assert.equals('{"channel":"x","connection":"trading","order_id":"42"}', line)
    assert.equals('{"a":1}', record.ndjson({ a = 1 }))
  end)

  it("has no trailing newline and escapes strings", function()
    local line = record.ndjson({ headline = 'Say "hi"\n', status = "open" }, "news", "feed")
    assert.equals('{"channel":"news","connection":"feed","headline":"Say \\"hi\\"\\n","status":"open"}', line)
    assert.is_nil(line:find("\n", 1, true))
  end)

  it("writes an empty record and json.null / booleans", function()
    assert.equals('{"channel":"info","connection":"c"}', record.ndjson({}, "info", "c"))
    assert.equals('{"channel":"info","connection":"c","a":null,"b":false}',
      record.ndjson({ a = json.null, b = false }, "info", "c"))
  end)

  it("round-trips through json.decode", function()
    local line = record.ndjson({ filled = 0.30000000000000004, average_price = 1e-7, n = 2 ^ 53 }, "order", "t")
    local v = json.decode(line)
    assert.equals(0.30000000000000004, v.filled)
    assert.equals(1e-7, v.average_price)
    assert.equals(2 ^ 53, v.n)
  end)

  it("raises with the field path for values that cannot be encoded", function()
    local ok, err = pcall(record.ndjson, { data = { price = 0 / 0 } }, "data", "md")
    assert.is_false(ok)
    assert.matches("at data%.price$", err)
    ok, err = pcall(record.ndjson, { cb = print }, "data", "md")
    assert.equals("json.encode: cannot encode a function at cb", err)
    -- the module stays usable after an error
    assert.equals('{"channel":"d","connection":"m","a":1}', record.ndjson({ a = 1 }, "d", "m"))
  end)

  it("is independent between calls (no state leaks)", function()
    record.ndjson({ a = 1, b = 2, c = 3, d = 4 }, "x", "y")
    assert.equals('{"channel":"x","connection":"y","z":1}', record.ndjson({ z = 1 }, "x", "y"))
  end)
end)
