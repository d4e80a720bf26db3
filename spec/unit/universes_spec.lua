-- Asset universes per connection: the same symbol on two markets is the right instrument on each
-- connection (infer_asset, --assets, subscriptions, check).
local feedhost = require("feedhost")
local unit = require("spec.helpers.unit")
local schema = require("feedhost.spec.schema")

local SPEC = "spec/fixtures/master/two_markets.lua"

local function feed(pipeline, ...)
  pipeline.run(unit.of({ ... }))
end

describe("asset universes per connection", function()
  local out, spec
  before_each(function()
    out = {}
    spec = assert(feedhost.load({ spec = SPEC, log_level = "error",
      on_record = function(r) out[#out + 1] = r end }))
  end)

  it("resolves the same symbol to each connection's own instrument", function()
    local frame = '{"topic":"publicTrade.BTCUSDT","data":[{"s":"BTCUSDT","p":"1"}]}'
    feed(spec:pipeline("spot"), frame)
    feed(spec:pipeline("linear"), frame)
    assert.equal(2, #out)
    assert.equal("spot", out[1].class)
    assert.equal(0.01, out[1].tick)
    assert.equal("linear", out[2].class)
    assert.equal(0.1, out[2].tick)
    assert.are_not.equal(out[1].asset, out[2].asset)
    assert.equal("BTCUSDT", out[1].asset.symbol)
    assert.equal("BTCUSDT", out[2].asset.symbol)
  end)

  it("counts a symbol the connection's universe lacks as symbol_not_found", function()
    feed(spec:pipeline("spot"), '{"data":[{"s":"SOLUSDT"}]}')
    assert.equal(0, #out)
    assert.equal(1, spec:pipeline("spot").stats.error_kinds.symbol_not_found)
  end)

  it("subscribes each connection to the assets its universe knows", function()
    local list = assert(spec:resolve({ "BTCUSDT", "ETHUSDT", "SOLUSDT" }))
    assert.equal(3, #list)
    local s = assert(spec:outbound("spot", list))
    assert.equal('{"args":["publicTrade.BTCUSDT","publicTrade.ETHUSDT"],"op":"subscribe"}', s.subscribe[1].text)
    assert.equal("spot", s.universe.name)
    local l = assert(spec:outbound("linear", list))
    assert.equal('{"args":["publicTrade.BTCUSDT","publicTrade.SOLUSDT"],"op":"subscribe"}', l.subscribe[1].text)
  end)

  it("refuses a symbol no universe has, naming the universes", function()
    local _, err = spec:resolve({ "BTCUSDT", "DOGEUSDT" })
    assert.equal("no asset with symbol 'DOGEUSDT' in any universe (linear, spot, master_data)", err)
  end)

  it("gives each live connection its own assets", function()
    local host = assert(feedhost.new({ spec = SPEC, log_level = "error" }))
    assert(host:subscribe({ "BTCUSDT", "SOLUSDT" }))
    local by = {}
    for _, def in ipairs(host.rt.defs) do
      by[def.name] = def.sockets[1].assets
    end
    assert.equal(1, #by.spot)
    assert.equal("spot", by.spot[1].asset_class)
    assert.equal(2, #by.linear)
    assert.equal("linear", by.linear[1].asset_class)
    assert.equal("SOLUSDT", by.linear[2].symbol)
    host:close()
  end)

  it("keeps each live connection's own assets across a reload of the same spec", function()
    local host = assert(feedhost.new({ spec = SPEC, log_level = "error" }))
    assert(host:subscribe({ "BTCUSDT", "SOLUSDT" }))   -- SOLUSDT: the linear universe only
    local ok, summary = host:reload("test")
    assert(ok, summary)
    local by = {}
    for _, def in ipairs(host.rt.defs) do
      by[def.name] = def.sockets[1].assets
    end
    assert.equal(1, #by.spot)
    assert.equal(2, #by.linear)
    assert.equal("SOLUSDT", by.linear[2].symbol)
    assert.equal("linear", by.linear[2].asset_class)
    host:close()
  end)

  it("reports why a universe's master file cannot be read (a directory is not 'No such file')", function()
    local spec2, err = feedhost.load({ spec = SPEC, log_level = "error", adjust = function(s)
      s.universes.spot.file = "."          -- spec/fixtures/master itself
      s.universes.spot.format = "json"
    end })
    assert.is_nil(spec2)
    assert.matches("universes.spot.file: cannot open 'spec/fixtures/master/.': Is a directory", err, 1, true)
    assert.not_matches("No such file", err, 1, true)
  end)

  it("checks universe names with suggestions", function()
    local s = dofile(SPEC)
    s.streaming.connections.spot.universe = "sopt"
    local errs = schema.validate(s, "x.lua")
    assert.equal("x.lua: streaming.connections.spot.universe: no universe 'sopt' (the spec has"
      .. " default, linear, spot) (did you mean 'spot'?)", schema.format_errors(errs, "x.lua"))
  end)
end)
