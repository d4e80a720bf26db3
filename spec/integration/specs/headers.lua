-- Integration test spec: auth by HTTP headers on the handshake (Alpaca accepts these too).
--   server: spec/integration/servers/ws_server.py --auth headers --key K --secret S
return require("lib.market"){
  name = "it_headers",
  description = "auth = headers",
  auth = {
    mode = "headers",
    headers = {
      fields = {
        ["APCA-API-KEY-ID"] = { source = "credentials.api_key" },
        ["APCA-API-SECRET-KEY"] = { source = "credentials.api_secret" },
      },
    },
  },
}
