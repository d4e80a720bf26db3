-- Integration test spec: Socket.IO over Engine.IO 4, the token in the CONNECT payload (Breeze).
return require("lib.sio"){
  name = "it_sio_v4",
  eio = 4,
  auth = { mode = "first_message", first_message = { format = "json", json = { fields = {
    user = { value = "U1" },
    token = { source = "credentials.token" },
  } } } },
}
