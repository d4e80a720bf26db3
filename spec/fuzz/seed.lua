--- Writes the seed inputs of the fuzz corpora (spec/fuzz/corpus/<target>/seed-*) from the
--- project's fixtures and a few hand-made frames. Run from the worktree root:
---   luajit spec/fuzz/seed.lua
--- Seeds are rewritten each time; inputs the fuzzers found (named by their SHA-1) are kept.
package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
local json = require("feedhost.util.json")
local bytes = require("feedhost.bytes")

local OUT = "spec/fuzz/corpus"
local written = {}

local function put(target, name, data)
  os.execute("mkdir -p " .. OUT .. "/" .. target)
  local path = OUT .. "/" .. target .. "/seed-" .. name
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  written[target] = (written[target] or 0) + 1
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function unbase64(s)
  local bits, acc, out = 0, 0, {}
  for i = 1, #s do
    local v = B64:find(s:sub(i, i), 1, true)
    if v then
      acc = acc * 64 + (v - 1)
      bits = bits + 6
      if bits >= 8 then
        bits = bits - 8
        out[#out + 1] = string.char(math.floor(acc / 2 ^ bits) % 256)
        acc = acc % 2 ^ bits
      end
    end
  end
  return table.concat(out)
end

-- ISO timestamps quoted in a text: the ts target's seeds
local stamps = {}
local function collect_stamps(s)
  for t in s:gmatch('"(%d%d%d%d%-%d%d%-%d%d[^"]*)"') do
    stamps[t] = true
  end
end

-- ---- captures: each line (capture), its frame (json_tape), its base64 (base64, kite) --------
for _, name in ipairs({ "alpaca", "kite" }) do
  local src = read("specs/captures/" .. name .. ".ndjson")
  local n = 0
  local lines = {}
  for line in src:gmatch("[^\n]+") do
    n = n + 1
    lines[#lines + 1] = line
    put("capture", name .. "-" .. n, line)
    put("json_tape", "capture-" .. name .. "-" .. n, line)
    collect_stamps(line)
    local rec = json.decode(line)
    if rec.text then
      put("json_tape", name .. "-" .. n, rec.text)
      put("base64", "text-" .. name .. "-" .. n, line:match('"text":"(.*)"'))
      collect_stamps(rec.text)
    elseif rec.binary then
      put("base64", name .. "-" .. n, rec.binary)
      put("kite", "capture-" .. n, unbase64(rec.binary))
    end
  end
  -- a few lines together, as a capture file is read
  put("capture", name .. "-head", table.concat(lines, "\n", 1, math.min(6, #lines)) .. "\n")
end

-- ---- fixtures of the specs: text frames and sends (json_tape), hex frames (kite) --------------
for _, name in ipairs({ "alpaca", "binance", "kite" }) do
  local fx = dofile("specs/fixtures/" .. name .. ".lua")
  for cname, c in pairs(fx.connections or {}) do
    for i, fr in ipairs(c.frames or {}) do
      local id = name .. "-" .. cname .. "-" .. i
      if fr.text then
        put("json_tape", "fixture-" .. id, fr.text)
        collect_stamps(fr.text)
        put("capture", "fixture-" .. id, json.encode({ ts = 1700000000000000000 + i,
          connection = cname, dir = "in", text = fr.text }))
      elseif fr.hex then
        local b = bytes.hex(fr.hex)
        put("kite", "fixture-" .. i, b)
        put("ws_frame", "kite-" .. i, "\x82" .. (#b < 126 and string.char(#b)
          or "\126" .. string.char(math.floor(#b / 256), #b % 256)) .. b)
      end
    end
    for i, s in ipairs(c.sends or {}) do
      put("json_tape", "send-" .. name .. "-" .. cname .. "-" .. i, s)
    end
  end
end
for _, f in ipairs({ "array.json", "bad.json", "instruments.json" }) do
  put("json_tape", "master-" .. f, read("spec/fixtures/master/" .. f))
end

-- ---- JSON the fixtures lack: escapes, surrogates, deep nesting, odd numbers ------------------
local extra = {
  escapes = [["a\"b\\c\/d\b\f\n\r\t\u00e9\u20AC"]],
  surrogate_pair = [["\ud83d\ude00"]],
  surrogate_at_end = [["x\ud83d"]],
  surrogate_pair_at_end = [["x\ud83d\ude00"]],
  lone_low = [["\udc00\ud800\u0041"]],
  escaped_key = [[{"\u0053":"AAPL","S":"dup","p":1}]],
  long_escaped = '"' .. string.rep("ab\\n", 100) .. '"',
  deep = string.rep("[", 512) .. string.rep("]", 512),
  too_deep = string.rep("[", 513) .. string.rep("]", 513),
  deep_objects = string.rep('{"a":', 300) .. "1" .. string.rep("}", 300),
  numbers = "[0,-0,1e400,-1e400,1e-400,2.2250738585072014e-308,9007199254740993,"
    .. "123456789012345678901234567890,0.1e1,1E+2,-0.0e-0,4.9e-324,1.7976931348623157e308]",
  long_number = "0." .. string.rep("0", 600) .. "1",
  keys = '{"ts":1,"connection":"c","dir":"in","text":"x","binary":"AA==","T":"q","S":"A"}',
  literals = "[true,false,null,{},[],\"\"]",
}
for name, text in pairs(extra) do
  put("json_tape", "extra-" .. name, text)
end

-- ---- capture lines the captures lack ---------------------------------------------------------
local lines = {
  escapes = [[{"ts":1,"connection":"c","dir":"in","text":"{\"a\":\"\\u00e9\\/\"}\ud83d\ude00"}]],
  binary_url = [[{"ts":"2021-02-22T15:51:44.208Z","connection":"c","dir":"in","binary":"-_-_AA"}]],
  binary_bad = [[{"ts":2,"connection":"c","dir":"in","binary":"A$=="}]],
  binary_slash = [[{"ts":3,"connection":"c","dir":"in","binary":"ab\/cd=="}]],
  dir_out = [[{"ts":4,"connection":"c","dir":"out","text":"x"}]],
  no_body = [[{"ts":5,"connection":"c"}]],
  big_ts = [[{"ts":1e400,"connection":"c","dir":"in","text":""}]],
  topic_text = [[{"ts":6,"connection":"c","dir":"in","topic":"trades\/AAPL","text":"{\"p\":1}"}]],
  topic_binary = [[{"ts":7,"connection":"c","dir":"in","topic":"","binary":"AAEC"}]],
}
for name, line in pairs(lines) do
  put("capture", "extra-" .. name, line)
end

-- ---- base64 -----------------------------------------------------------------------------------
for name, s in pairs({ padded = "AAEAAgM=", two = "AA==", none = "AAEAAgM", url = "-_-_",
  bad = "A$==", lone = "AAAAA", empty = "", mixed = "YWJj\nZGVm\n\\u0041\\n" }) do
  put("base64", "extra-" .. name, s)
end

-- ---- timestamps --------------------------------------------------------------------------------
local ts_extra = {
  "2021-02-22T14:30:00.007099626Z", "2021-02-22T14:30:00+05:30", "2021-02-22 14:30:00,5z",
  "2021-02-22", "2020-02-29T23:59:60Z", "2021-02-29", "1900-02-28T00:00-0130",
  "2262-04-11T23:47:16.854775807Z", "1677-09-21T00:12:43.145224192Z", "0000-01-01", "9999-12-31",
  "2021-02-22T14:30:00.1234567891234Z", "2021-02-22t14:30",
}
for _, t in ipairs(ts_extra) do
  stamps[t] = true
end
local sorted = {}
for t in pairs(stamps) do
  sorted[#sorted + 1] = t
end
table.sort(sorted)
for i, t in ipairs(sorted) do
  put("ts", tostring(i), t)
end

-- ---- WebSocket frames and handshake responses ---------------------------------------------------
local ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" -- for the harness's key dGhlIHNhbXBsZSBub25jZQ==
local function be(n, width)
  local t = {}
  for k = width - 1, 0, -1 do
    t[#t + 1] = string.char(math.floor(n / 2 ^ (8 * k)) % 256)
  end
  return table.concat(t)
end
local ws = {
  text = "\x81\x05hello",
  masked = "\x81\x82\x01\x02\x03\x04\x69\x6b", -- "hi" masked
  len16 = "\x82\x7e\x01\x00" .. string.rep("x", 256),
  len64 = "\x82\x7f" .. be(65536, 8) .. string.rep("y", 16),
  len64_max = "\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff",
  len64_top_bit = "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00",
  len64_high_half = "\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x05hello",
  len64_masked = "\x02\xff\x00\x00\x00\x00\x00\x00\x00\x03\xaa\xbb\xcc\xdd\x01\x02\x03",
  ping = "\x89\x00", pong = "\x8a\x02hi", close = "\x88\x02\x03\xe8",
  ping_long = "\x89\x7e\x00\xc8", ping_fragment = "\x09\x00", rsv = "\xc1\x00", opcode = "\x83\x00",
  two_frames = "\x01\x03abc\x80\x03def",
  response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    .. "Sec-WebSocket-Accept: " .. ACCEPT .. "\r\n\r\n\x81\x02hi",
  response_lower = "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nsec-websocket-accept:" .. ACCEPT
    .. "  \r\n\r\n",
  response_bad_accept = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    .. "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
  response_401 = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
  response_partial = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n",
  response_no_space = "HTTP/1.1\r\n\r\n",
  not_http = "SSH-2.0-x\r\n",
}
for name, s in pairs(ws) do
  put("ws_frame", name, s)
end

local names = {}
for t in pairs(written) do
  names[#names + 1] = t
end
table.sort(names)
for _, t in ipairs(names) do
  print(string.format("%-10s %d seeds", t, written[t]))
end
