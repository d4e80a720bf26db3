-- Integration test spec: Socket.IO over Engine.IO 3, the token in the handshake query (XTS).
return require("lib.sio"){
  name = "it_sio_v3",
  eio = 3,
  auth = { mode = "url", url = { query = { fields = {
    token = { source = "credentials.token" },
    userID = { value = "U1" },
  } } } },
}
