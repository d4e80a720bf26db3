-- Integration test spec: auth by URL query fields (appended to the url with escaping).
--   server: spec/integration/servers/ws_server.py --auth query --key K --secret S
return require("lib.market"){
  name = "it_url_query",
  description = "auth = url query",
  auth = {
    mode = "url",
    url = {
      query = {
        fields = {
          key = { source = "credentials.api_key" },
          secret = { source = "credentials.api_secret" },
        },
      },
    },
  },
}
