-- the record of a trade, shared by the benchmark specs
return {
  asset = { source = "broker.infer_asset{ symbol = data.symbol }" },
  timestamp = { source = "ts(data.timestamp)" },
  data = { price = { source = "num(data.price)" }, volume = { source = "num(data.qty)" } },
  side = { source = "data.side" },
}
