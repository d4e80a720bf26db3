-- The benchmark specs' shared part: one connection whose converter makes a trade record; each
-- spec gives what differs (frame, parser, router) in `conn`.
local FIELDS = {
  asset = { source = "broker.infer_asset{ symbol = data.symbol }" },
  timestamp = { source = "ts(data.timestamp)" },
  data = { price = { source = "num(data.price)" }, volume = { source = "num(data.qty)" } },
  side = { source = "data.side" },
}

-- the fields read from `prefix` instead of `data.` (a wrapped element)
local function over(v, prefix)
  if v.source then
    return { source = v.source:gsub("data%.", prefix) }
  end
  local out = {}
  for k, x in pairs(v) do out[k] = over(x, prefix) end
  return out
end

return function(name, conn, prefix)
  conn.url = "wss://ws.kraken.com/v2"
  conn.streams = { "data" }
  conn.converters = { data = { { fields = prefix and over(FIELDS, prefix) or FIELDS } } }
  return { name = name, streaming = { connections = { md = conn } } }
end
