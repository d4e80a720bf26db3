--- feedhost.transport: the transports a spec's `backend.type` names. Each is a module with:
--   name                       the backend type ("websocket", ...)
--   parse_url(url)             -> parts table, or nil, message (what the transport accepts)
--   session(R, def, conn)      -> a session: one attempt to connect, owned by runtime.connection
-- A session opens the connection on the reactor and turns the loop's events into the
-- connection's (conn:on_transport_open(), on_transport_frames(batch), on_transport_close(code,
-- reason), on_transport_error(message, status), on_alive(), on_oversize(bytes), on_dropped(n));
-- the connection calls session:open(url, headers), send(frame), ping(), close(why),
-- tick(now) (protocol liveness: returns a reason to give up on the connection, or nil) and
-- stats(). `why` is one of M.CLOSE_REASONS; each transport maps it to its own close code.
-- Adding a transport: a module here and a line in M.BY_TYPE.
local M = {}

M.BY_TYPE = {
  websocket = "feedhost.transport.websocket",
}

M.CLOSE_REASONS = {
  shutdown = "shutdown", auth_failed = "auth message failed", auth_rejected = "auth rejected",
  auth_timeout = "auth timeout", idle = "idle timeout", ping_timeout = "ping timeout",
  reload = "the spec changed (reload)",
}

--- The transport module of a backend type. @return module, or nil, message
function M.get(backend_type)
  local name = M.BY_TYPE[backend_type or "websocket"]
  if not name then
    local known = {}
    for k in pairs(M.BY_TYPE) do
      known[#known + 1] = k
    end
    table.sort(known)
    return nil, string.format("backend type '%s' is not supported by this version (supported: %s)",
      tostring(backend_type), table.concat(known, ", "))
  end
  return require(name)
end

return M
