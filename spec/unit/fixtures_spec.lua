-- Every spec in specs/ against its fixture (specs/fixtures/<name>.lua, each one found there): the
-- URL, the handshake headers and the exact frames it sends (auth, setup, subscribe for the assets
-- the connection's universe knows; Socket.IO: the handshake URL, the CONNECT packet, emits as
-- packets; HTTP requests as "METHOD url body" with their headers; MQTT and ZeroMQ: topics), then
-- the frames in (with their topic or Socket.IO event) -> the exact NDJSON records out and the
-- error counts per kind, with record tables and with the lines written by the converters.
local cffi = require("feedhost.sys.ffi")
local specmod = require("feedhost.spec")
local record = require("feedhost.data.record")
local bytes = require("feedhost.bytes")
local sio = require("feedhost.transport.socketio")
local http_out = require("feedhost.runtime.http_out")
local transport = require("feedhost.transport")

-- direct: records written by the converters straight into an NDJSON buffer (no record table);
-- `out` is then read from it after the frames (see lines_of)
local function run_fixture(name, direct)
  local fx = dofile("specs/fixtures/" .. name .. ".lua")
  local loaded, errs = specmod.load("specs/" .. name .. ".lua")
  assert(loaded, errs and specmod.format_errors(errs, name))
  local out = {}
  local creds = assert(require("feedhost.spec.credentials").resolve(loaded.spec, fx.credentials, function() return nil end))
  local buf = direct and require("ffi").gc(cffi.api.out_new(0), cffi.api.out_free) or nil
  local compiled, cerrs = specmod.compile(loaded, {
    credentials = creds, out = buf,
    emit = function(r) out[#out + 1] = record.ndjson(r, r.channel, r.connection) end,
  })
  assert(compiled, cerrs and specmod.format_errors(cerrs, name))
  out.buf = buf
  local assets = compiled.resolve(fx.assets or {})
  return fx, compiled, assets, out
end

-- the lines of a direct fixture's buffer
local function lines_of(out)
  local lines = {}
  for l in require("ffi").string(out.buf.buf, out.buf.len):gmatch("([^\n]*)\n") do
    lines[#lines + 1] = l
  end
  return lines
end

-- `state`: the connection's (default: the pipeline's own)
local function feed(compiled, conn, frames, state)
  local b = cffi.batch(4096, 8)
  for _, f in ipairs(frames) do
    local ts = f.received_at and specmod and require("feedhost.runtime.replay").parse_int64(tostring(f.received_at))
      or 1700000000000000000LL
    -- a frame's topic (MQTT, ZeroMQ) or event (Socket.IO) goes with it as its metadata
    local meta = f.topic or f.event or ""
    if f.hex then
      local bin = bytes.hex(f.hex)
      cffi.api.batch_push_meta(b, 1, cffi.C.FH_FRAME_BINARY, ts, meta, #meta, bin, #bin)
    elseif f.binary then
      cffi.api.batch_push_meta(b, 1, cffi.C.FH_FRAME_BINARY, ts, meta, #meta, f.binary, #f.binary)
    else
      cffi.api.batch_push_meta(b, 1, cffi.C.FH_FRAME_TEXT, ts, meta, #meta, f.text, #f.text)
    end
  end
  compiled.connections[conn].pipeline.run(b, nil, state)
end

-- a sent frame as the fixture writes it: text, a Socket.IO emit packet, an HTTP request, or
-- for MQTT and ZeroMQ { text = ..., topics = {{topic, qos}...} }
local function wire(c, fr)
  if fr.event and c.backend == "socketio" then
    return sio.emit_packet(fr, (c.spec.backend.options or {}).namespace)
  elseif fr.http then
    return fr.http.method .. " " .. http_out.resolve(fr.http.url, c.url()) .. (fr.http.body and (" " .. fr.http.body) or "")
  elseif fr.topics ~= nil then
    return { text = fr.text, topics = assert(transport.topic_list(fr.topics)) }
  end
  return fr.text
end

-- every fixture in specs/fixtures/
local function fixture_names()
  local names = {}
  local p = io.popen("ls specs/fixtures")
  for file in p:lines() do
    names[#names + 1] = file:match("^(.+)%.lua$")
  end
  p:close()
  table.sort(names)
  return names
end

it("finds the fixtures of the shipped specs", function()
  local names = table.concat(fixture_names(), " ")
  for _, n in ipairs({ "alpaca", "binance", "bitfinex", "breeze", "bybit", "coinbase", "dwx", "kite",
    "kraken", "okx", "webull", "xts" }) do
    assert.matches(n, names, 1, true)
  end
end)

for _, name in ipairs(fixture_names()) do
  describe("spec " .. name, function()
    local fx, compiled, assets = run_fixture(name)
    for conn, cfx in pairs(fx.connections) do
      describe("connection " .. conn, function()
        local c = compiled.connections[conn]
        it("exists in the spec", function()
          assert.is_table(c)
        end)
        if cfx.url then
          it("connects to the expected URL", function()
            assert.are.equal(cfx.url, c.url())
          end)
        end
        if cfx.headers then
          it("sends the expected handshake headers", function()
            local got = {}
            for _, h in ipairs(c.headers()) do
              got[h[1]] = h[2]
            end
            assert.are.same(cfx.headers, got)
          end)
        end
        if cfx.sends then
          it("sends the expected frames: auth, then subscribe per channel", function()
            local got = {}
            for _, fr in ipairs(c.auth_frames()) do
              got[#got + 1] = wire(c, fr)
            end
            for _, fr in ipairs(c.setup_frames()) do
              got[#got + 1] = wire(c, fr)
            end
            for _, fr in ipairs(c.subscribe(c.assets_of(assets))) do
              got[#got + 1] = wire(c, fr)
            end
            assert.are.same(cfx.sends, got)
          end)
        end
        if cfx.unsubscribe then
          it("sends the expected unsubscribe frames, with the state its frames leave", function()
            local _, comp2, assets2 = run_fixture(name)
            local state = {}   -- what the hooks learn from the frames (Bitfinex's channel ids)
            feed(comp2, conn, cfx.frames or {}, state)
            local got = {}
            for _, fr in ipairs(comp2.connections[conn].unsubscribe(assets2, nil, state)) do
              got[#got + 1] = wire(c, fr)
            end
            assert.are.same(cfx.unsubscribe, got)
          end)
        end
        if cfx.http_headers then
          it("sends its HTTP requests with the expected headers", function()
            for _, fr in ipairs(c.subscribe(assets)) do
              assert.are.same(cfx.http_headers, fr.http.headers)
            end
          end)
        end
        if cfx.handshake then
          it("opens the expected Socket.IO handshake and namespace", function()
            local opts = c.spec.backend.options or {}
            local u = assert(sio.parse_url(c.url()))
            assert.are.equal(cfx.handshake, string.format("%s://%s:%d%s", u.tls and "wss" or "ws",
              u.host, u.port, sio.handshake_path(u, opts)))
            local payload = c.connect_payload()
            assert.are.equal(cfx.connect, payload and ("40" .. payload) or nil)
          end)
        end
        it("turns the fixture frames into exactly the fixture records", function()
          local _, comp2, _, out = run_fixture(name)
          feed(comp2, conn, cfx.frames or {})
          assert.are.same(cfx.records or {}, out)
          local st = comp2.connections[conn].pipeline.stats
          for kind, n in pairs(cfx.errors or {}) do
            assert.are.equal(n, st.error_kinds[kind] or 0, "error count of kind " .. kind)
          end
          local expected_total = 0
          for _, n in pairs(cfx.errors or {}) do
            expected_total = expected_total + n
          end
          assert.are.equal(expected_total, st.errors)
        end)
        it("writes the same bytes when the converters write the lines themselves", function()
          local _, comp2, _, out = run_fixture(name, true)
          feed(comp2, conn, cfx.frames or {})
          assert.are.same(cfx.records or {}, lines_of(out))
          assert.are.equal(#(cfx.records or {}), comp2.connections[conn].pipeline.stats.records)
        end)
      end)
    end
  end)
end
