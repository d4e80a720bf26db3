-- A Kraken-like stream (WebSocket v2 trade pushes): luajit gen_pool.lua FRAMES [SEED] > pool
-- Each line is one frame {"channel":"trade","type":"update","data":[1 to 5 trades]}, the trades
-- as Kraken documents them (symbol, side, price, qty, ord_type, trade_id, timestamp); one frame
-- in 50 is a heartbeat.
local n = tonumber(arg[1] or "20000")
math.randomseed(tonumber(arg[2] or "7"))
local SYMBOLS = { "BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD", "DOT/USD", "LTC/USD",
  "MATIC/USD", "ALGO/USD", "LINK/USD", "AVAX/USD", "ATOM/USD" }
local id, t = 4665846, 1695628116
for _ = 1, n do
  if math.random(50) == 1 then
    io.write('{"channel":"heartbeat"}\n')
  else
    local trades = {}
    for k = 1, math.random(5) do
      id = id + 1
      t = t + math.random(3) * 0.001
      local sec = math.floor(t)
      trades[k] = string.format('{"symbol":"%s","side":"%s","price":%.4f,"qty":%.8f,"ord_type":"%s",'
        .. '"trade_id":%d,"timestamp":"%s.%06dZ"}', SYMBOLS[math.random(#SYMBOLS)],
        math.random(2) == 1 and "buy" or "sell", 0.5 + math.random() * 100, math.random() * 1000,
        math.random(2) == 1 and "limit" or "market", id, os.date("!%Y-%m-%dT%H:%M:%S", sec),
        math.floor((t - sec) * 1e6))
    end
    io.write('{"channel":"trade","type":"update","data":[', table.concat(trades, ","), ']}\n')
  end
end
