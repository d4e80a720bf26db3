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
