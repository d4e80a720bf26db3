-- Integration test spec: the first_message spec plus a setup message, hooks given as
-- { custom = name } that write the connection's state, and converters that read it.
--   server: spec/integration/servers/ws_server.py --auth first_message --key K --secret S
local spec = require("first_message")
spec.name = "it_setup_state"
local conn = spec.streaming.connections.market_data
-- sent once per connection, after the auth ack, before the subscriptions
conn.setup = { format = "json", json = { fields = { action = { value = "setup" },
  connection = { source = "connection_name" } } }, order = { "action" } }
conn.hooks = { on_connect = { custom = "fresh" }, on_info = { custom = "count_info" } }
spec.registry = {
  -- a new connection starts with an empty state; these fill it
  fresh = function(ctx) ctx.state.fresh = true end,
  count_info = function(ctx) ctx.state.info = (ctx.state.info or 0) + 1 end,
}
local trade = conn.converters.data[1].fields
trade.fresh = { source = "state.fresh" }
trade.info_seen = { source = "state.info" }
return spec
