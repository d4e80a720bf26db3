-- feedhost.spec.messages: URL query fields (auth mode "url") are escaped per RFC 3986, so a
-- credential with '+', '/', '=', '&', '%' or a blank reaches the server unchanged.
require("feedhost.core")
local messages = require("feedhost.spec.messages")
local feedhost = require("feedhost")

describe("URL query fields", function()
  it("escape every byte but RFC 3986's unreserved ones", function()
    assert.are.equal("aZ09-._~", messages.escape("aZ09-._~"))
    assert.are.equal("a%2Bb%2Fc%3Dd%26e%20f%25%3F%23%C3%A9", messages.escape("a+b/c=d&e f%?#\195\169"))
  end)

  it("are appended after ? or &", function()
    assert.are.equal("wss://x/p?a=1&b=%2B", messages.with_query("wss://x/p", { { "a", "1" }, { "b", "+" } }))
    assert.are.equal("wss://x/p?k=v&a=1", messages.with_query("wss://x/p?k=v", { { "a", "1" } }))
    assert.are.equal("wss://x/p", messages.with_query("wss://x/p", {}))
  end)

  it("carry a spec's credentials escaped in its connection URL", function()
    local spec = assert(feedhost.load({ spec = "spec/integration/specs/url_query.lua",
      credentials = { api_key = "k 1", api_secret = "s+/=&%" } }))
    local out = assert(spec:outbound("market_data", {}))
    assert.are.equal("key=k%201&secret=s%2B%2F%3D%26%25", out.url:match("%?(.*)$"))
  end)
end)

describe("text templates", function()
  it("read from left to right: a placeholder ends at its first }, then }} is a brace", function()
    assert.are.equal('{"chanId":17}', messages.template('{{"chanId":{id}}}', { id = 17 }))
    assert.are.equal("{1}", messages.template("{{{id}}}", { id = 1 }))
    assert.are.equal("{id} 2.5", messages.template("{{id}} {id}", { id = 2.5 }))
    assert.are.equal("a}b{ {x", messages.template("a}b{ {x", {}))
    assert.are.same({ nil, "no value for placeholder {y}" }, { messages.template("x{y}", {}) })
  end)
end)

describe("subscribe and unsubscribe messages", function()
  local schema = require("feedhost.spec.schema")
  local specmod = require("feedhost.spec")
  -- the compiled connection of a spec whose data channel unsubscribes with `unsub`, and the
  -- assets AAPL and MSFT
  local function conn_with(unsub)
    local spec = { name = "t", streaming = { connections = { feed = {
      url = "ws://127.0.0.1:1/", streams = { "data" },
      subscribe = { subscribe = { data = { format = "text", text = "sub" } },
        unsubscribe = { data = unsub } } } } } }
    local errs = schema.validate(spec, "t.lua")
    assert(#errs == 0, schema.format_errors(errs, "t.lua"))
    local compiled = assert(specmod.compile({ file = "t.lua", dir = ".", spec = spec },
      { open_assets = { "AAPL", "MSFT" } }))
    return compiled.connections.feed, compiled.universe:resolve({ "AAPL", "MSFT" })
  end
  local function texts(frames)
    local out = {}
    for _, fr in ipairs(frames) do
      out[#out + 1] = fr.text
    end
    return out
  end

  it("read the connection's state; a condition that does not hold leaves the asset's frame out",
    function()
    local c, assets = conn_with({ format = "text", text = '{{"leave":{id}}}',
      tokens = { fields = { id = { source = "state[asset.symbol]" } } },
      condition = "state[asset.symbol] ~= nil" })
    assert.are.same({ '{"leave":7}' }, texts(c.unsubscribe(assets, nil, { MSFT = 7 })))
    assert.are.same({ '{"leave":1}', '{"leave":7}' }, texts(c.unsubscribe(assets, nil, { AAPL = 1, MSFT = 7 })))
    assert.are.same({}, c.unsubscribe(assets))   -- no state given: an empty one
  end)

  it("a condition may be a function of the context; false leaves a whole message out", function()
    local c, assets = conn_with({ format = "json", json = { fields = { op = { value = "leave" } } },
      condition = function(ctx) return ctx.state.joined end })
    assert.are.same({}, c.unsubscribe(assets, nil, {}))
    assert.are.same({ '{"op":"leave"}' }, texts(c.unsubscribe(assets, nil, { joined = true })))
  end)

  it("a condition with an unknown name is an error at its key path", function()
    local spec = { name = "t", streaming = { connections = { feed = {
      url = "ws://127.0.0.1:1/", streams = { "data" },
      subscribe = { subscribe = { data = { format = "text", text = "sub", condition = "stat ~= nil" } } } } } } }
    local compiled, errs = specmod.compile({ file = "t.lua", dir = ".", spec = spec }, {})
    assert.is_nil(compiled)
    assert.are.equal("streaming.connections.feed.subscribe.subscribe.data.condition", errs[1].path)
    assert.matches("unknown name 'stat'", errs[1].msg, 1, true)
  end)
end)
