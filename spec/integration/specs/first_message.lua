-- Integration test spec: auth by first message, with ack and reject (the Alpaca v2 protocol).
--   server: spec/integration/servers/ws_server.py --auth first_message --key K --secret S
return require("lib.market"){
  name = "it_first_message",
  description = "auth = first_message with ack / reject",
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
}
