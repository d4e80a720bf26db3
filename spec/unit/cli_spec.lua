-- The `feedhost` binary: check, replay, help and exit codes, run as a child process.
-- FEEDHOST_BIN names the binary (default build/feedhost); `--lua-dev=<cwd>` makes it load the
-- Lua engine from this source tree rather than the copy embedded at build time.
local json = require("feedhost.util.json")
local bit = require("bit")

local BIN = os.getenv("FEEDHOST_BIN") or "build/feedhost"

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local CWD = (function()
  local p = io.popen("pwd")
  local d = p:read("*l")
  p:close()
  return d
end)()

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local tmpfiles = {}
local function tmpfile(content, suffix)
  local name = os.tmpname()
  os.remove(name)
  name = name .. (suffix or "")
  local f = assert(io.open(name, "wb"))
  f:write(content)
  f:close()
  tmpfiles[#tmpfiles + 1] = name
  return name
end

-- runs `feedhost <args>` (args: list of strings); env_prefix: e.g. "env -u X"
-- @return exit code, stdout, stderr
local function feedhost(args, env_prefix)
  local out, err = os.tmpname(), os.tmpname()
  local parts = { env_prefix or "", shell_quote(BIN), shell_quote("--lua-dev=" .. CWD) }
  for _, a in ipairs(args) do
    parts[#parts + 1] = shell_quote(a)
  end
  local cmd = table.concat(parts, " ") .. " >" .. out .. " 2>" .. err .. "; echo $?"
  local p = io.popen(cmd)
  local rc = tonumber(p:read("*a"):match("%d+"))
  p:close()
  local so, se = slurp(out), slurp(err)
  os.remove(out)
  os.remove(err)
  return rc, so, se
end

local function lines_of(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do
    t[#t + 1] = l
  end
  return t
end

local function has_line(s, want)
  for _, l in ipairs(lines_of(s)) do
    if l == want then
      return true
    end
  end
  return false
end

local function contains(s, sub)
  return s:find(sub, 1, true) ~= nil
end

-- base64 decoding by hand (RFC 4648), for checking replayed binary frames
local B64 = {}
do
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  for i = 1, 64 do
    B64[alphabet:sub(i, i)] = i - 1
  end
end
local function unbase64(s)
  local out, acc, nbits = {}, 0, 0
  for c in s:gmatch("[%w+/]") do
    acc = bit.bor(bit.lshift(acc, 6), B64[c])
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      out[#out + 1] = string.char(bit.band(bit.rshift(acc, nbits), 0xff))
    end
  end
  return table.concat(out)
end

local function u16be(s, off)
  return s:byte(off + 1) * 256 + s:byte(off + 2)
end
local function u32be(s, off)
  return ((s:byte(off + 1) * 256 + s:byte(off + 2)) * 256 + s:byte(off + 3)) * 256 + s:byte(off + 4)
end
local function i32be(s, off)
  local v = u32be(s, off)
  return v >= 2 ^ 31 and v - 2 ^ 32 or v
end

local CREDS = tmpfile('return { api_key = "KEY123", api_secret = "SEC456" }\n', ".lua")

teardown(function()
  for _, f in ipairs(tmpfiles) do
    os.remove(f)
  end
end)

describe("feedhost binary", function()
  it("exists", function()
    local f = io.open(BIN, "rb")
    assert.is_not_nil(f, "no binary at " .. BIN .. " (build it, or set FEEDHOST_BIN)")
    f:close()
  end)
end)

describe("feedhost check", function()
  it("prints the exact auth and subscribe frames of the Alpaca spec", function()
    local rc, out, err = feedhost({ "check", "specs/alpaca.lua", "--assets", "AAPL,MSFT", "--credentials", CREDS })
    assert.are.equal(0, rc, err)
    -- the credentials are read, and never printed in clear
    assert.is_true(has_line(out, '  > auth: {"action":"auth","key":"***","secret":"***"}'), out)
    assert.is_nil(out:find("KEY123", 1, true))
    assert.is_nil(out:find("SEC456", 1, true))
    assert.is_true(has_line(out,
      '  > subscribe data: {"action":"subscribe","bars":["AAPL","MSFT"],"trades":["AAPL","MSFT"]}'), out)
    assert.is_true(has_line(out, '  > subscribe quote: {"action":"subscribe","quotes":["AAPL","MSFT"]}'), out)
    -- the auth frame comes before the subscribe frames
    assert.is_true(out:find('"action":"auth"', 1, true) < out:find('"action":"subscribe"', 1, true))
    assert.is_true(has_line(out, "  url: wss://stream.data.alpaca.markets/v2/iex"), out)
    assert.is_true(has_line(out,
      '  > auth: {"action":"authenticate","data":{"key_id":"***","secret_key":"***"}}'), out)
  end)

  it("masks credentials in the URL, the Socket.IO handshake and HTTP headers, URL-encoded too", function()
    local creds = tmpfile('return { token = "tok/en+42", user_id = "USR77" }\n', ".lua")
    local rc, out, err = feedhost({ "check", "specs/xts.lua", "--credentials", creds })
    assert.are.equal(0, rc, err)
    assert.is_true(has_line(out, "  url: https://developers.symphonyfintech.in?broadcastMode=Full"
      .. "&publishFormat=JSON&token=***&userID=***"), out)
    assert.matches("\n  handshake: wss://[^\n]*&token=%*%*%*&userID=%*%*%*\n", out)
    assert.is_true(has_line(out, "      header: authorization: ***"), out)
    for _, clear in ipairs({ "tok/en+42", "tok%2Fen%2B42", "USR77" }) do
      assert.is_nil(out:find(clear, 1, true), out)
    end
  end)

  it("reads credentials from a JSON file too", function()
    local creds = tmpfile('{"api_key": "JK1", "api_secret": "JS2"}\n', ".json")
    local rc, out, err = feedhost({ "check", "specs/alpaca.lua", "--credentials", creds })
    assert.are.equal(0, rc, err)
    assert.is_true(has_line(out, '  > auth: {"action":"auth","key":"***","secret":"***"}'), out)
    assert.is_nil(out:find("JS2", 1, true))
  end)

  it("reads credentials from the environment", function()
    local rc, out, err = feedhost({ "check", "specs/alpaca.lua" },
      "env ALPACA_API_KEY=EK1 ALPACA_API_SECRET=ES2")
    assert.are.equal(0, rc, err)
    assert.is_true(has_line(out, '  > auth: {"action":"auth","key":"***","secret":"***"}'), out)
    assert.is_nil(out:find("ES2", 1, true))
  end)

  it("exits 2 naming a missing credential field and its environment variable", function()
    local creds = tmpfile('return { api_key = "KEY123" }\n', ".lua")
    local rc, out, err = feedhost({ "check", "specs/alpaca.lua", "--credentials", creds },
      "env -u ALPACA_API_KEY -u ALPACA_API_SECRET")
    assert.are.equal(2, rc)
    assert.is_true(contains(err, "api_secret"), err)
    assert.is_true(contains(err, "ALPACA_API_SECRET"), err)
    assert.is_false(contains(err, "ALPACA_API_KEY"), err)
    assert.are.equal("", out)
  end)

  it("exits 2 on a misspelled key, naming the file, the key path and the right key", function()
    local spec = tmpfile([[
return {
  name = "typo",
  streaming = { connections = { market = {
    url = "wss://feed.example/ws",
    streams = { "quote" },
    convertors = { quote = { { fields = { bid = { source = "num(data.b)" } } } } },
  } } },
}
]], ".lua")
    local rc, out, err = feedhost({ "check", spec })
    assert.are.equal(2, rc)
    assert.is_true(contains(err, spec .. ": streaming.connections.market.convertors: "), err)
    assert.is_true(contains(err, "did you mean 'converters'"), err)
    assert.are.equal("", out)
  end)

  it("exits 2 on an expression with an unknown name, naming its key path", function()
    local spec = tmpfile([[
return {
  name = "expr",
  streaming = { connections = { market = {
    url = "wss://feed.example/ws",
    streams = { "quote" },
    converters = { quote = { { fields = { bid = { source = "nmu(data.b)" } } } } },
  } } },
}
]], ".lua")
    local rc, _, err = feedhost({ "check", spec })
    assert.are.equal(2, rc, err)
    assert.is_true(contains(err, spec .. ": streaming.connections.market.converters.quote[1].fields.bid.source: "
      .. "unknown name 'nmu' (did you mean 'num'?)"), err)
    assert.is_false(contains(err, "internal error"), err)
  end)

  it("reports every mistake of a spec at once", function()
    local spec = tmpfile([[
return {
  name = "three",
  streaming = { connections = { market = {
    url = "wss://feed.example/ws",
    frame = "arrey",
    streams = { "quote" },
    routr = { rules = {} },
    converters = { quote = { { fields = { bid = { source = "nmu(data.b)" } } } } },
  } } },
}
]], ".lua")
    local rc, _, err = feedhost({ "check", spec })
    assert.are.equal(2, rc)
    local p = spec .. ": streaming.connections.market."
    assert.is_true(contains(err, p .. "frame: 'arrey' is not one of record, array (did you mean 'array'?)"), err)
    assert.is_true(contains(err, p .. "routr: unknown key (did you mean 'router'?)"), err)
    assert.is_true(contains(err, p .. "converters.quote[1].fields.bid.source: unknown name 'nmu'"), err)
  end)

  it("exits 2 on a spec that is not valid Lua, naming the file and line", function()
    local spec = tmpfile("return {\n  name = 'x',\n  streaming = {\n}\n", ".lua")
    local rc, _, err = feedhost({ "check", spec })
    assert.are.equal(2, rc)
    assert.is_true(contains(err, spec), err)
    assert.truthy(err:match(":%d+:"), err)
  end)

  it("exits 2 on a spec file that does not exist", function()
    local rc, _, err = feedhost({ "check", "specs/no_such_spec.lua" })
    assert.are.equal(2, rc)
    assert.is_true(contains(err, "no_such_spec.lua"), err)
  end)

  it("exits 2 on an unknown option", function()
    local rc, _, err = feedhost({ "check", "specs/alpaca.lua", "--assetz", "AAPL" })
    assert.are.equal(2, rc)
    assert.is_true(contains(err, "--assetz"), err)
  end)
end)

-- the capture's "in" frames, decoded
local function capture_frames(path)
  local frames = {}
  for _, line in ipairs(lines_of(slurp(path))) do
    local ok, t = pcall(json.decode, line)
    if ok and type(t) == "table" and t.dir == "in" then
      local ts = line:match('"ts":(%d+)')
      frames[#frames + 1] = { ts = ts, text = t.text, binary = t.binary and unbase64(t.binary) }
    end
  end
  return frames
end

-- instrument_token -> tradingsymbol from the Kite instrument dump
local function kite_symbols()
  local map = {}
  for i, line in ipairs(lines_of(slurp("specs/kite_instruments.csv"))) do
    if i > 1 then
      local token, _, sym = line:match("^(%d+),([^,]*),([^,]*),")
      if token then
        map[tonumber(token)] = sym
      end
    end
  end
  return map
end

local function kite_divisor(token)
  local seg = bit.band(token, 0xff)
  return seg == 3 and 1e7 or seg == 6 and 1e4 or 100
end

-- the shortest text of a double that reads back the same (as the NDJSON writer prints it)
local function num_text(v)
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then
    return string.format("%d", v)
  end
  for prec = 1, 17 do
    local s = string.format("%." .. prec .. "g", v)
    if tonumber(s) == v then
      return s
    end
  end
end

describe("feedhost replay", function()
  local rc, out, err
  setup(function()
    rc, out, err = feedhost({ "replay", "specs/kite.lua", "specs/captures/kite.ndjson" })
  end)

  it("exits 0 and prints one NDJSON record per line", function()
    assert.are.equal(0, rc, err)
    local lines = lines_of(out)
    assert.is_true(#lines > 0)
    for _, l in ipairs(lines) do
      local r = json.decode(l)
      assert.are.equal("market_data", r.connection)
      assert.is_string(r.channel)
    end
  end)

  it("turns every LTP packet into the quote its bytes say", function()
    local symbols = kite_symbols()
    local checked = 0
    for _, f in ipairs(capture_frames("specs/captures/kite.ndjson")) do
      local b = f.binary
      if b and #b >= 2 then
        local n, off = u16be(b, 0), 2
        for _ = 1, n do
          local len = u16be(b, off)
          if len == 8 then
            local token = u32be(b, off + 2)
            local ltp = i32be(b, off + 6) / kite_divisor(token)
            local want = string.format('{"channel":"quote","connection":"market_data","asset":"%s","last":%s,'
              .. '"timestamp":%s}', assert(symbols[token], "token " .. token), num_text(ltp), f.ts)
            assert.is_true(has_line(out, want), "missing " .. want)
            checked = checked + 1
          end
          off = off + 2 + len
        end
      end
    end
    assert.is_true(checked >= 1, "the capture has no LTP packet")
  end)

  it("turns a full packet into a quote with the last price and the best bid and ask", function()
    local symbols = kite_symbols()
    local checked = 0
    for _, f in ipairs(capture_frames("specs/captures/kite.ndjson")) do
      local b = f.binary
      if b and #b >= 2 then
        local n, off = u16be(b, 0), 2
        for _ = 1, n do
          local len = u16be(b, off)
          local p = off + 2
          if len == 184 then
            local token = u32be(b, p)
            local div = kite_divisor(token)
            local ltp = i32be(b, p + 4) / div
            local exch_ts = u32be(b, p + 60)
            local bid_qty, bid = u32be(b, p + 64), i32be(b, p + 68) / div
            local ask_qty, ask = u32be(b, p + 124), i32be(b, p + 128) / div
            local found = false
            for _, l in ipairs(lines_of(out)) do
              if contains(l, '"asset":"' .. symbols[token] .. '"') and contains(l, '"last":' .. num_text(ltp) .. ",")
                and contains(l, '"bid":' .. num_text(bid) .. ",") and contains(l, '"bid_volume":' .. bid_qty .. ",")
                and contains(l, '"ask":' .. num_text(ask) .. ",") and contains(l, '"ask_volume":' .. ask_qty .. ",")
                and contains(l, '"timestamp":' .. exch_ts .. "000000000}") then
                found = true
              end
            end
            assert.is_true(found, "no record for the full packet of " .. symbols[token] .. " last " .. num_text(ltp))
            checked = checked + 1
          end
          off = off + 2 + len
        end
      end
    end
    assert.is_true(checked >= 1)
  end)

  it("converts the order update text frame", function()
    local order
    for _, f in ipairs(capture_frames("specs/captures/kite.ndjson")) do
      if f.text and contains(f.text, '"type":"order"') then
        order = json.decode(f.text).data
      end
    end
    assert.is_table(order)
    local rec
    for _, l in ipairs(lines_of(out)) do
      if contains(l, '"channel":"order"') then
        rec = json.decode(l)
      end
    end
    assert.is_table(rec, out)
    assert.are.equal(order.order_id, rec.order_id)
    assert.are.equal("complete", rec.status) -- COMPLETE
    assert.are.equal(order.transaction_type:lower(), rec.side)
    assert.are.equal(order.filled_quantity, rec.filled)
    assert.are.equal(order.average_price, rec.average_price)
    assert.are.equal("INFY", rec.asset)
    -- "2024-11-26 14:45:08" IST
    assert.is_true(contains(out, '"timestamp":1732612508000000000'), out)
  end)

  it("summarizes frames and records on stderr, matching what it printed", function()
    local n_in = #capture_frames("specs/captures/kite.ndjson")
    local frames, records, errors = err:match("replay: (%d+) frames, (%d+) records, (%d+) errors")
    assert.is_not_nil(frames, err)
    assert.are.equal(n_in, tonumber(frames))
    assert.are.equal(#lines_of(out), tonumber(records))
    assert.are.equal(0, tonumber(errors))
  end)

  it("--output none prints no records but the same summary", function()
    local rc2, out2, err2 = feedhost({ "replay", "specs/kite.lua", "specs/captures/kite.ndjson", "--output", "none" })
    assert.are.equal(0, rc2)
    assert.are.equal("", out2)
    -- the same counts (the time differs)
    assert.are.equal(err:match("replay: [^\n]+ errors"), err2:match("replay: [^\n]+ errors"))
  end)

  it("counts a bad capture line in the summary, replays the rest and exits 0", function()
    local cap = slurp("specs/captures/kite.ndjson")
    local lines = lines_of(cap)
    table.insert(lines, 5, "{this is not a capture line")
    local bad = tmpfile(table.concat(lines, "\n") .. "\n", ".ndjson")
    local rc2, out2, err2 = feedhost({ "replay", "specs/kite.lua", bad })
    assert.are.equal(0, rc2, err2)
    assert.are.equal(out, out2)
    assert.truthy(err2:match("1 unreadable capture lines?: line 5"), err2)
  end)

  it("reads binary members written with escaped slashes (\\/, as other JSON writers put them)", function()
    local cap = slurp("specs/captures/kite.ndjson")
    local escaped, n = {}, 0
    for _, l in ipairs(lines_of(cap)) do
      local b64 = l:match('"binary":"([^"]*)"')
      if b64 and b64:find("/", 1, true) then
        n = n + 1
        l = l:gsub('"binary":"[^"]*"', function(m) return (m:gsub("/", "\\/")) end)
      end
      escaped[#escaped + 1] = l
    end
    assert(n > 0, "the kite capture has no binary frame with a / in its base64")
    local rc2, out2, err2 = feedhost({ "replay", "specs/kite.lua", tmpfile(table.concat(escaped, "\n") .. "\n", ".ndjson") })
    assert.are.equal(0, rc2, err2)
    assert.are.equal(out, out2)
  end)

  it("exits 2 when the capture cannot be read", function()
    local rc2, _, err2 = feedhost({ "replay", "specs/kite.lua", "specs/captures/no_such.ndjson" })
    assert.are.equal(2, rc2)
    assert.is_true(contains(err2, "no_such.ndjson"), err2)
  end)

  it("never writes a credential to stderr when it logs a bad frame", function()
    local creds = tmpfile('return { api_key = "SEKRETKEY42", api_secret = "TOPSECRET99" }\n', ".lua")
    local cap = tmpfile(table.concat({
      '{"ts":1700000000000000000,"connection":"market_data","dir":"in","text":'
        .. '"[{\\"T\\":\\"q\\",\\"S\\":\\"AAPL\\",\\"t\\":\\"SEKRETKEY42\\",\\"bp\\":1,\\"ap\\":2,\\"bs\\":3,\\"as\\":4}]"}',
      '{"ts":1700000000000000001,"connection":"market_data","dir":"in","text":'
        .. '"[{\\"T\\":\\"q\\",\\"S\\":\\"AAPL\\",\\"t\\":\\"2024-01-01T00:00:00Z\\",\\"bp\\":\\"TOPSECRET99\\",'
        .. '\\"ap\\":2,\\"bs\\":3,\\"as\\":4}]"}',
      '{"ts":1700000000000000002,"connection":"market_data","dir":"in","text":"{\\"key\\":\\"SEKRETKEY42\\"'
        .. ' truncated"}',
      '{"ts":1700000000000000003,"connection":"market_data","dir":"in","text":'
        .. '"[{\\"T\\":\\"q\\",\\"S\\":\\"AAPL\\",\\"t\\":\\"2024-01-01T00:00:00.123456789Z\\",\\"bp\\":1.5,'
        .. '\\"ap\\":2,\\"bs\\":3,\\"as\\":4}]"}',
    }, "\n") .. "\n", ".ndjson")
    local rc2, out2, err2 = feedhost({ "replay", "specs/alpaca.lua", cap, "--credentials", creds })
    assert.are.equal(0, rc2, err2)
    assert.are.equal('{"channel":"quote","connection":"market_data","ask":2,"ask_volume":4,"asset":"AAPL",'
      .. '"bid":1.5,"bid_volume":3,"timestamp":1704067200123456789}\n', out2)
    assert.is_false(contains(err2, "SEKRETKEY42"), err2)
    assert.is_false(contains(err2, "TOPSECRET99"), err2)
    assert.is_true(contains(err2, "***"), err2)
    assert.is_true(contains(err2, "converters.quote[1].fields.timestamp"), err2)
    assert.is_true(contains(err2, "converters.quote[1].fields.bid"), err2)
    assert.truthy(err2:match("replay: 4 frames, 1 records, 3 errors"), err2)
  end)

  it("credentials from the environment are masked as well", function()
    local cap = tmpfile('{"ts":1,"connection":"market_data","dir":"in","text":"[{\\"T\\":\\"q\\",\\"S\\":\\"AAPL\\",'
      .. '\\"t\\":\\"ENVSECRET777\\"}]"}\n', ".ndjson")
    local rc2, _, err2 = feedhost({ "replay", "specs/alpaca.lua", cap },
      "env ALPACA_API_KEY=ENVSECRET777 ALPACA_API_SECRET=other-secret")
    assert.are.equal(0, rc2, err2)
    assert.is_false(contains(err2, "ENVSECRET777"), err2)
    assert.is_true(contains(err2, "***"), err2)
  end)
end)

describe("feedhost usage", function()
  local function commands()
    local _, out = feedhost({ "help" })
    local list = {}
    local in_cmds = false
    for _, l in ipairs(lines_of(out)) do
      if l:match("^commands:") then
        in_cmds = true
      elseif in_cmds then
        local c = l:match("^  (%l+)")
        if c and c ~= "help" then
          list[#list + 1] = c
        end
      end
    end
    return list
  end

  it("lists check and replay among its commands", function()
    local set = {}
    for _, c in ipairs(commands()) do
      set[c] = true
    end
    assert.is_true(set.check)
    assert.is_true(set.replay)
  end)

  it("--help of every command exits 0 and prints its usage on stdout", function()
    for _, c in ipairs(commands()) do
      local rc, out = feedhost({ c, "--help" })
      assert.are.equal(0, rc, c)
      assert.truthy(out:match("^usage: feedhost " .. c), c .. ": " .. out)
    end
  end)

  it("help COMMAND prints the same usage", function()
    local _, a = feedhost({ "help", "replay" })
    local _, b = feedhost({ "replay", "--help" })
    assert.are.equal(b, a)
  end)

  it("--help exits 0 with the usage", function()
    local rc, out = feedhost({ "--help" })
    assert.are.equal(0, rc)
    assert.truthy(out:match("^usage: feedhost"))
  end)

  it("an unknown command exits 2 and names it", function()
    local rc, out, err = feedhost({ "frobnicate" })
    assert.are.equal(2, rc)
    assert.is_true(contains(err, "unknown command 'frobnicate'"), err)
    assert.are.equal("", out)
  end)

  it("no command exits 2", function()
    local rc = feedhost({})
    assert.are.equal(2, rc)
  end)

  it("a command without its arguments exits 2", function()
    assert.are.equal(2, (feedhost({ "check" })))
    assert.are.equal(2, (feedhost({ "replay", "specs/kite.lua" })))
  end)
end)

describe("feedhost run (usage and spec errors, before any connection)", function()
  it("names a missing credential and exits 2", function()
    local rc, _, err = feedhost({ "run", "specs/alpaca.lua", "--assets", "AAPL" },
      "env -u ALPACA_API_KEY -u ALPACA_API_SECRET")
    assert.are.equal(2, rc)
    assert.truthy(contains(err, "api_key"))
    assert.truthy(contains(err, "ALPACA_API_KEY"))
  end)

  it("rejects a bad --output, an unknown --url connection and a bad URL option", function()
    local env = "ALPACA_API_KEY=k ALPACA_API_SECRET=s"
    local rc, _, err = feedhost({ "run", "specs/alpaca.lua", "--output", "csv" }, env)
    assert.are.equal(2, rc)
    assert.truthy(contains(err, "--output must be ndjson or none"))
    rc, _, err = feedhost({ "run", "specs/alpaca.lua", "--url", "nope=ws://127.0.0.1:1/" }, env)
    assert.are.equal(2, rc)
    assert.truthy(contains(err, "--url nope: the spec has market_data, trading"))
    rc, _, err = feedhost({ "run", "specs/alpaca.lua", "--url", "market_data" }, env)
    assert.are.equal(2, rc)
    assert.truthy(contains(err, "--url wants CONN=URL"))
  end)

  it("exits 2 naming the key path for a bad spec", function()
    local path = tmpfile('return { name = "x", streaming = { connections = { c = { url = "ws://x/",'
      .. ' heartbeat = { intervall = 1 } } } } }', ".lua")
    local rc, _, err = feedhost({ "run", path })
    os.remove(path)
    assert.are.equal(2, rc)
    assert.truthy(contains(err, "streaming.connections.c.heartbeat.intervall: unknown key (did you mean 'interval'?)"))
  end)

  it("prints its help with exit 0", function()
    local rc, out = feedhost({ "run", "--help" })
    assert.are.equal(0, rc)
    assert.truthy(contains(out, "usage: feedhost run SPEC"))
  end)
end)
