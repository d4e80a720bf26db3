-- WebSocket transport details against a python3-websockets server: messages split into several
-- frames are reassembled; a large message arrives whole, with and without permessage-deflate.
require("feedhost.core")
local feedhost = require("feedhost")
local reactor = require("feedhost.reactor")
local logmod = require("feedhost.log")

local PY = "/usr/bin/python3"
local SERVER = "spec/integration/servers/frames_server.py"

local function start_server(args)
  local errfile = os.tmpname()
  local p = assert(io.popen(PY .. " " .. SERVER .. " " .. (args or "") .. " 2>" .. errfile
    .. " & echo PID $!", "r"))
  local pid = tonumber(p:read("*l"):match("PID (%d+)"))
  local port = tonumber(p:read("*l"):match("PORT (%d+)"))
  return { pid = pid, port = port, pipe = p, errfile = errfile }
end

local function stop_server(s)
  os.execute("kill " .. s.pid .. " 2>/dev/null")
  s.pipe:close()
  local f = io.open(s.errfile)
  local err = f and f:read("*a") or ""
  if f then
    f:close()
  end
  os.remove(s.errfile)
  return err
end

local function run(args, deflate)
  local srv = start_server(args)
  local records = {}
  local lines = {}
  local conn_spec = "spec/integration/specs/transport.lua"
  local host = assert(feedhost.new({ spec = conn_spec, assets = { "AAPL", "MSFT", "TSLA" },
    urls = { feed = "ws://127.0.0.1:" .. srv.port .. "/" },
    log = logmod.new({ level = "debug", sink = function(l) lines[#lines + 1] = l end }),
    on_record = function(r) records[#records + 1] = r end,
    adjust = function(spec)
      spec.streaming.connections.feed.backend.options.deflate = deflate
    end }))
  local deadline = reactor.now() + 10
  while reactor.now() < deadline and #records < 3003 do
    host:step(50)
  end
  local st = host:stats().feed
  host:close()
  local err = stop_server(srv)
  return records, st, err, lines
end

describe("websocket transport", function()
  for _, deflate in ipairs({ true, false }) do
    it("reassembles fragmented and large messages (deflate offered: " .. tostring(deflate) .. ")", function()
      local records, st, err = run("", deflate)
      assert.equal(3003, #records)
      assert.equal("AAPL", records[1].asset.symbol)
      assert.equal(101.5, records[1].data.price)
      assert.equal(102.5, records[2].data.price)
      assert.equal("MSFT", records[3].asset.symbol)
      assert.equal("TSLA", records[3003].asset.symbol)
      assert.equal(3, st.frames)   -- three messages, whatever the frames on the wire
      assert.equal(0, st.errors)
      if deflate then
        assert.matches("extensions:permessage%-deflate", err)
      else
        assert.matches("extensions:\n", err)
      end
    end)
  end
end)
