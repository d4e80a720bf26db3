-- Integration test spec for the fault tests: first_message auth (as first_message.lua), a
-- WebSocket ping every second, a 2 s idle timeout on data frames, fast capped backoff, and a
-- 1 MB frame limit.
local spec = require("lib.market"){
  name = "it_faults",
  description = "heartbeat, reconnect and limits",
  auth = {
    mode = "first_message",
    first_message = {
      format = "json",
      json = {
        fields = {
          action = { value = "auth" },
          key = { source = "credentials.api_key" },
          secret = { source = "credentials.api_secret" },
        },
      },
      order = { "action", "key", "secret" },
    },
    ack = "data[1] ~= nil and data[1].T == 'success' and data[1].msg == 'authenticated'",
    reject = "data[1] ~= nil and data[1].T == 'error'"
      .. " and (data[1].code == 401 or data[1].code == 402 or data[1].code == 404"
      .. " or data[1].code == 406)",
  },
  heartbeat = { interval = 1, message = "ping", idle_timeout = 2 },
  reconnect = { initial = 0.2, max = 1, factor = 2, jitter = 0.1, stable_after = 1 },
  limits = { max_frame_bytes = 1000000 },
}
return spec
