-- Every spec in specs/ against its fixture (specs/fixtures/<name>.lua, each one found there): the
-- URL, the handshake headers and the exact frames it sends (auth, setup, subscribe for the assets
-- the connection's universe knows), then the frames in -> the exact NDJSON records out and the
-- error counts per kind.
local cffi = require("feedhost.sys.ffi")
local specmod = require("feedhost.spec")
local record = require("feedhost.data.record")
local bytes = require("feedhost.bytes")

local function run_fixture(name)
  local fx = dofile("specs/fixtures/" .. name .. ".lua")
  local loaded, errs = specmod.load("specs/" .. name .. ".lua")
  assert(loaded, errs and specmod.format_errors(errs, name))
  local out = {}
  local creds = assert(require("feedhost.spec.credentials").resolve(loaded.spec, fx.credentials, function() return nil end))
  local compiled, cerrs = specmod.compile(loaded, {
    credentials = creds,
    emit = function(r) out[#out + 1] = record.ndjson(r, r.channel, r.connection) end,
  })
  assert(compiled, cerrs and specmod.format_errors(cerrs, name))
  local assets = compiled.resolve(fx.assets or {})
  return fx, compiled, assets, out
end

local function feed(compiled, conn, frames)
  local b = cffi.batch(4096, 8)
  for _, f in ipairs(frames) do
    local ts = f.received_at and specmod and require("feedhost.runtime.replay").parse_int64(tostring(f.received_at))
      or 1700000000000000000LL
    if f.hex then
      local bin = bytes.hex(f.hex)
      cffi.api.batch_push(b, 1, cffi.C.FH_FRAME_BINARY, ts, bin, #bin)
    elseif f.binary then
      cffi.api.batch_push(b, 1, cffi.C.FH_FRAME_BINARY, ts, f.binary, #f.binary)
    else
      cffi.api.batch_push(b, 1, cffi.C.FH_FRAME_TEXT, ts, f.text, #f.text)
    end
  end
  compiled.connections[conn].pipeline.run(b)
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
  for _, n in ipairs({ "alpaca", "binance", "bitfinex", "bybit", "coinbase", "kite", "kraken", "okx" }) do
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
              got[#got + 1] = fr.text
            end
            for _, fr in ipairs(c.setup_frames()) do
              got[#got + 1] = fr.text
            end
            for _, fr in ipairs(c.subscribe(c.assets_of(assets))) do
              got[#got + 1] = fr.text
            end
            assert.are.same(cfx.sends, got)
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
      end)
    end
  end)
end
