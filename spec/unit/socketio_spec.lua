-- feedhost.transport.socketio (URLs, the handshake path, emit packets) and the resolution of
-- HTTP message URLs (feedhost.runtime.http_out).
local sio = require("feedhost.transport.socketio")
local http_out = require("feedhost.runtime.http_out")

describe("feedhost.transport.socketio", function()
  it("takes http(s) and ws(s) URLs; the query rides on the handshake", function()
    local u = assert(sio.parse_url("https://md.example:8443/apimarketdata/socket.io?token=a%2Bb&x=1"))
    assert.are.same({ "md.example", 8443, true, "/apimarketdata/socket.io", "token=a%2Bb&x=1" },
      { u.host, u.port, u.tls, u.path, u.query })
    assert.are.equal("/apimarketdata/socket.io/?EIO=3&transport=websocket&token=a%2Bb&x=1",
      sio.handshake_path(u, { eio = 3 }))
    u = assert(sio.parse_url("http://127.0.0.1:3000"))
    assert.are.same({ 3000, false, "", "" }, { u.port, u.tls, u.path, u.query })
    assert.are.equal("/socket.io/?EIO=4&transport=websocket", sio.handshake_path(u, {}))
    assert.are.equal("/ohlcvstream/?EIO=4&transport=websocket", sio.handshake_path(u, { path = "ohlcvstream" }))
    local bad, err = sio.parse_url("tcp://x")
    assert.is_nil(bad)
    assert.matches("must start with http:// or https:// or ws:// or wss://", err)
  end)

  it("builds emits: JSON arguments as they are, text as a JSON string, namespaces, binary", function()
    assert.are.equal('42["join",["4.1!2885"]]',
      sio.emit_packet({ event = "join", format = "json", text = '["4.1!2885"]' }))
    assert.are.equal('42/md,["sub","AAPL \\"x\\""]',
      sio.emit_packet({ event = "sub", format = "text", text = 'AAPL "x"' }, "/md"))
    assert.are.equal('42/other,["e",1]',
      sio.emit_packet({ event = "e", format = "json", text = "1", namespace = "/other" }, "/md"))
    assert.are.equal('451-["bin",{"_placeholder":true,"num":0}]',
      sio.binary_emit_packet({ event = "bin", binary = "\1\2" }))
  end)
end)

describe("HTTP messages (feedhost.runtime.http_out)", function()
  it("a path is on the connection's own host (ws -> http, wss -> https)", function()
    assert.are.equal("https://h.example:9/a?b=1", http_out.resolve("/a?b=1", "wss://h.example:9/x"))
    assert.are.equal("http://127.0.0.1:5/s", http_out.resolve("/s", "http://127.0.0.1:5?token=x"))
    assert.are.equal("https://other/s", http_out.resolve("https://other/s", "ws://h"))
  end)

  it("a failed request is retried after the connection's backoff, jitter from the runtime's random", function()
    local delays, retries, draws = {}, {}, { 0, 1, 0.5 }
    local conn = {
      def = { name = "feed", reconnect = { initial = 0.1, factor = 2, max = 0.3, jitter = 0.5 } },
      url = "ws://127.0.0.1:1/feed", errors = 0,
      log = { event = function() end, info = function() end },
      rt = { random = function() return table.remove(draws, 1) end },
      R = {
        open = function() return nil, "connection refused" end,
        after = function(_, delay, fn)
          delays[#delays + 1], retries[#retries + 1] = delay, fn
          return { cancel = function() end }
        end,
      },
    }
    http_out.new(conn):send({ method = "POST", url = "/s" }, "subscribe")
    retries[1]()
    retries[2]()
    -- min(0.3, 0.1 * 2^attempt) * (1 + 0.5 * (2r - 1)) for r = 0, 1, 0.5
    for i, want in ipairs({ 0.05, 0.3, 0.3 }) do
      assert.near(want, delays[i], 1e-9)
    end
    assert.equal(3, conn.errors)
  end)
end)
