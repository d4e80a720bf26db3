-- Integration tests of the authoring features against a real WebSocket server on 127.0.0.1
-- (spec/integration/servers/ws_server.py, started and stopped by each test): setup messages after
-- auth and before the subscriptions (again after a reconnect), the connection's state written by
-- hooks given as { custom = name }, read by converters and reset on reconnect.
local it_ = require("spec.helpers.integration")

local KEY = "AKIT-AUTHOR-1"
local SECRET = "SKIT-author-s3cr3t"

describe("authoring features over a real connection", function()
  after_each(function()
    it_.cleanup()
  end)

  it("sends setup after auth and before subscribing, again after a reconnect; state starts empty each time", function()
    local t = it_.tmpdir()
    local creds = it_.write(t .. "/creds.json", it_.json_encode({ api_key = KEY, api_secret = SECRET }))
    local srv = it_.server(t, { "--key", KEY, "--secret", SECRET, "--close-after", "6", "--faults", "1" })
    local fh = it_.feedhost(t, "spec/integration/specs/setup_state.lua", { "--assets", "AAPL",
      "--credentials", creds, "--url", "market_data=" .. srv:url("/v2/iex") })
    -- records of the second connection: the server's sequence numbers go on past 6
    it_.wait_for(function()
      for _, r in ipairs(fh:records()) do
        if r.channel == "data" and r.data.volume > 8 then return true end
      end
      return false
    end, 10, "trade records after the reconnect", fh, srv)
    local setup = '{"action":"setup","connection":"market_data"}'
    for conn = 1, 2 do
      local got = srv:received(conn)
      assert.are.equal(setup, got[2], "connection " .. conn .. " got: " .. table.concat(got, " | "))
      assert.matches('^{"action":"auth"', got[1])
      assert.matches('^{"action":"subscribe"', got[3])
      local n = 0
      for _, text in ipairs(got) do
        if text == setup then n = n + 1 end
      end
      assert.are.equal(1, n, "setup sent once per connection")
    end
    -- every trade saw a fresh state: set by on_connect, and at most the connected, authenticated
    -- and two subscription acks of its own connection counted by on_info
    local trades = 0
    for _, r in ipairs(fh:records()) do
      if r.channel == "data" then
        trades = trades + 1
        assert.is_true(r.fresh)
        assert.is_true(r.info_seen >= 3 and r.info_seen <= 4, "info seen " .. tostring(r.info_seen))
      end
    end
    assert.is_true(trades >= 8)
    assert.is_true(fh:running())
  end)
end)
