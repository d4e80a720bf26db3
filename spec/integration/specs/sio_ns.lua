-- Integration test spec: Socket.IO over Engine.IO 4 on the namespace /md (CONNECT, emits and
-- events all carry it).
return require("lib.sio"){
  name = "it_sio_ns",
  eio = 4,
  namespace = "/md",
  auth = { mode = "first_message", first_message = { format = "json", json = { fields = {
    token = { source = "credentials.token" },
  } } } },
}
