local bytes = require "feedhost.bytes"
local kite = require "registry.kite"

-- Frames are written as hex so every byte is visible; `keep` holds the string
-- alive while the decoder reads through the pointer.
local keep = {}
local function decode_hex(hex)
  local s = bytes.hex(hex)
  keep[#keep + 1] = s
  local p, n = bytes.from_string(s)
  return kite.kite_decode(p, n, {})
end

-- 184-byte full packet for INFY (zerodha/kiteconnect-mocks ticker_full.packet).
local FULL_INFY = table.concat({
  "00063a01", -- 0   token 0x00063a01 = 408065, segment 0x01 nse -> divisor 100
  "000266ba", -- 4   ltp 0x000266ba = 157370 -> 1573.7
  "00000007", -- 8   last qty 7
  "0002656d", -- 12  avg price 0x0002656d = 157037 -> 1570.37
  "00123217", -- 16  volume 0x00123217 = 1192471
  "0003e9bb", -- 20  total buy qty 0x0003e9bb = 256443
  "00058a01", -- 24  total sell qty 0x00058a01 = 363009
  "000264f3", -- 28  open 0x000264f3 = 156915 -> 1569.15
  "0002673c", -- 32  high 0x0002673c = 157500 -> 1575
  "000261c9", -- 36  low 0x000261c9 = 156105 -> 1561.05
  "0002646c", -- 40  close 0x0002646c = 156780 -> 1567.8
  "60e2947f", -- 44  last trade time 0x60e2947f = 1625461887 (2021-07-05T05:11:27Z)
  "00000000", -- 48  oi 0
  "00000000", -- 52  oi day high 0
  "00000000", -- 56  oi day low 0
  "60e2947f", -- 60  exchange timestamp 1625461887
  -- depth: qty u32, price i32, orders u16, 2 pad bytes; entries 0-4 bids
  "00000005 0002669c 0001 0000", -- 64  bid 1: 5 @ 157340 -> 1573.4, 1 order
  "0000008c 00026674 0002 0000", -- 76  bid 2: 140 @ 157300 -> 1573, 2 orders
  "00000002 0002666f 0001 0000", -- 88  bid 3: 2 @ 157295 -> 1572.95, 1 order
  "000000db 0002666a 0007 0000", -- 100 bid 4: 219 @ 157290 -> 1572.9, 7 orders
  "00000032 00026665 0001 0000", -- 112 bid 5: 50 @ 157285 -> 1572.85, 1 order
  -- entries 5-9 asks
  "000000ac 000266ba 0003 0000", -- 124 ask 1: 172 @ 157370 -> 1573.7, 3 orders
  "0000002c 000266bf 0003 0000", -- 136 ask 2: 44 @ 157375 -> 1573.75, 3 orders
  "0000012e 000266c9 0003 0000", -- 148 ask 3: 302 @ 157385 -> 1573.85, 3 orders
  "0000008d 000266ce 0002 0000", -- 160 ask 4: 141 @ 157390 -> 1573.9, 2 orders
  "000002d4 000266d3 0005 0000", -- 172 ask 5: 724 @ 157395 -> 1573.95, 5 orders
}, " ")

-- 28-byte index quote for NIFTY 50.
local INDEX_QUOTE_NIFTY = table.concat({
  "0003e909", -- 0  token 0x0003e909 = 256265, segment 0x09 indices -> divisor 100
  "002527e5", -- 4  ltp 0x002527e5 = 2435045 -> 24350.45
  "00253b4a", -- 8  high 0x00253b4a = 2440010 -> 24400.1
  "00250c97", -- 12 low 0x00250c97 = 2428055 -> 24280.55
  "00251430", -- 16 open 0x00251430 = 2430000 -> 24300
  "00251831", -- 20 close 0x00251831 = 2431025 -> 24310.25
  "00000fb4", -- 24 net change 0x00000fb4 = 4020 -> 40.2
}, " ")

-- 32-byte index full for NIFTY BANK, with a negative net change.
local INDEX_FULL_BANK = table.concat({
  "0003f809", -- 0  token 0x0003f809 = 260105, segment 0x09 -> divisor 100
  "004e2005", -- 4  ltp 0x004e2005 = 5120005 -> 51200.05
  "004e741a", -- 8  high 0x004e741a = 5141530 -> 51415.3
  "004de798", -- 12 low 0x004de798 = 5105560 -> 51055.6
  "004e5a98", -- 16 open 0x004e5a98 = 5135000 -> 51350
  "004e5ae8", -- 20 close 0x004e5ae8 = 5135080 -> 51350.8
  "ffffc51d", -- 24 net change 0xffffc51d = -15075 (i32) -> -150.75
  "67459194", -- 28 exchange timestamp 0x67459194 = 1732612500 (2024-11-26T09:15:00Z)
}, " ")

describe("registry.kite kite_decode", function()
  it("decodes the LTP mock frame", function()
    -- 0001 N=1 | 0008 L=8 | 00063a01 token 408065 | 00026683 = 157315 -> 1573.15
    local pk = decode_hex("0001 0008 00063a01 00026683")
    assert.are.same({ { kind = "ltp", token = 408065, ltp = 1573.15 } }, pk)
  end)

  it("decodes the quote mock frame", function()
    local pk = decode_hex(table.concat({
      "0001", -- N = 1
      "002c", -- L = 44 -> quote
      "00063a01", -- token 408065
      "00026683", -- ltp 157315 -> 1573.15
      "00000001", -- last qty 1
      "00026569", -- avg 0x00026569 = 157033 -> 1570.33
      "0011f1b2", -- volume 0x0011f1b2 = 1175986
      "0003e9ff", -- buy qty 0x0003e9ff = 256511
      "00058037", -- sell qty 0x00058037 = 360503
      "000264f3", -- open 156915 -> 1569.15
      "0002673c", -- high 157500 -> 1575
      "000261c9", -- low 156105 -> 1561.05
      "0002646c", -- close 156780 -> 1567.8
    }, " "))
    assert.are.same({ {
      kind = "quote", token = 408065, ltp = 1573.15, last_qty = 1, avg_price = 1570.33,
      volume = 1175986, buy_qty = 256511, sell_qty = 360503,
      open = 1569.15, high = 1575, low = 1561.05, close = 1567.8,
    } }, pk)
  end)

  it("decodes a 184-byte full packet with depth", function()
    local pk = decode_hex("0001 00b8 " .. FULL_INFY) -- N=1, L=0x00b8=184
    assert.are.equal(1, #pk)
    assert.are.same({
      kind = "full", token = 408065, ltp = 1573.7, last_qty = 7, avg_price = 1570.37,
      volume = 1192471, buy_qty = 256443, sell_qty = 363009,
      open = 1569.15, high = 1575, low = 1561.05, close = 1567.8,
      last_trade_time = 1625461887, oi = 0, oi_day_high = 0, oi_day_low = 0,
      exchange_timestamp = 1625461887,
      depth = {
        bids = {
          { qty = 5, price = 1573.4, orders = 1 },
          { qty = 140, price = 1573, orders = 2 },
          { qty = 2, price = 1572.95, orders = 1 },
          { qty = 219, price = 1572.9, orders = 7 },
          { qty = 50, price = 1572.85, orders = 1 },
        },
        asks = {
          { qty = 172, price = 1573.7, orders = 3 },
          { qty = 44, price = 1573.75, orders = 3 },
          { qty = 302, price = 1573.85, orders = 3 },
          { qty = 141, price = 1573.9, orders = 2 },
          { qty = 724, price = 1573.95, orders = 5 },
        },
      },
    }, pk[1])
  end)

  it("decodes index packets with high, low, open, close order", function()
    -- N=2 | L=0x1c=28 index quote | L=0x20=32 index full
    local pk = decode_hex("0002 001c " .. INDEX_QUOTE_NIFTY .. " 0020 " .. INDEX_FULL_BANK)
    assert.are.same({
      {
        kind = "index_quote", token = 256265, ltp = 24350.45,
        high = 24400.1, low = 24280.55, open = 24300, close = 24310.25, change = 40.2,
      },
      {
        kind = "index_full", token = 260105, ltp = 51200.05,
        high = 51415.3, low = 51055.6, open = 51350, close = 51350.8, change = -150.75,
        exchange_timestamp = 1732612500,
      },
    }, pk)
  end)

  it("decodes several packets of different kinds in one frame, in order", function()
    local pk = decode_hex("0003 0008 00063a01 00026683 00b8 " .. FULL_INFY
      .. " 001c " .. INDEX_QUOTE_NIFTY)
    assert.are.equal(3, #pk)
    assert.are.equal("ltp", pk[1].kind)
    assert.are.equal("full", pk[2].kind)
    assert.are.equal(1573.95, pk[2].depth.asks[5].price)
    assert.are.equal("index_quote", pk[3].kind)
  end)

  it("divides NSE currency (segment 3) prices by 1e7 and BSE currency (6) by 1e4", function()
    -- 00064c03: token 412675, segment 0x03 cds; 32435af8 = 843275000 -> 84.3275
    -- 00138806: token 1280006, segment 0x06 bcd; 000cde24 = 843300 -> 84.33
    local pk = decode_hex("0002 0008 00064c03 32435af8 0008 00138806 000cde24")
    assert.are.same({
      { kind = "ltp", token = 412675, ltp = 84.3275 },
      { kind = "ltp", token = 1280006, ltp = 84.33 },
    }, pk)
    assert.are.equal(1e7, kite.kite_price_divisor(412675))
    assert.are.equal(1e4, kite.kite_price_divisor(1280006))
    assert.are.equal(100, kite.kite_price_divisor(256265))
  end)

  it("treats frames shorter than 2 bytes as heartbeats", function()
    assert.are.same({}, decode_hex("00"))
    assert.are.same({}, decode_hex(""))
  end)

  it("returns an empty list for a zero packet count", function()
    assert.are.same({}, decode_hex("0000"))
  end)

  it("skips packets of unknown length and keeps the rest", function()
    -- N=2 | L=0x0c=12 unknown (skipped) | L=8 ltp 408065 @ 1573.15
    local pk = decode_hex("0002 000c 00063a01 00026683 00000000 0008 00063a01 00026683")
    assert.are.same({ { kind = "ltp", token = 408065, ltp = 1573.15 } }, pk)
  end)

  it("reports a packet body that runs past the frame", function()
    -- N=3 | L=8 ltp (offsets 2..12) | L=0x2c=44 at 12, body at 14, only 20 bytes follow
    local pk, err = decode_hex("0003 0008 00063a01 00026683 002c " .. string.rep("00", 20))
    assert.is_nil(pk)
    assert.are.equal("kite: packet 2 of 3 cut short (need 44 bytes at 14, have 20)", err)
  end)

  it("reports a packet length field that runs past the frame", function()
    -- N=2 | L=8 ltp | one stray byte where the second length should be
    local pk, err = decode_hex("0002 0008 00063a01 00026683 00")
    assert.is_nil(pk)
    assert.are.equal("kite: packet 2 of 2 cut short (need 2 bytes at 12, have 1)", err)
  end)

  it("reports a count with no packets after it", function()
    local pk, err = decode_hex("0001")
    assert.is_nil(pk)
    assert.are.equal("kite: packet 1 of 1 cut short (need 2 bytes at 2, have 0)", err)
  end)

  it("honours len rather than the buffer's real size", function()
    -- a full LTP frame, but the caller says only 10 of its 12 bytes are the frame
    local s = bytes.hex("0001 0008 00063a01 00026683")
    local p = bytes.from_string(s)
    local pk, err = kite.kite_decode(p, 10, {})
    assert.is_nil(pk)
    assert.are.equal("kite: packet 1 of 1 cut short (need 8 bytes at 4, have 6)", err)
    assert.are.equal(12, #s)
  end)
end)
