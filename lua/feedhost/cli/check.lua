--- feedhost check: validate a spec and print what it would send.
local args = require("feedhost.cli.args")

local M = { name = "check", npos = 1,
  options = { ["trusted-spec"] = "flag", assets = "value", ["assets-file"] = "value",
    credentials = "value" } }

M.help = [[
usage: feedhost check SPEC [--assets A,B | --assets-file F] [--credentials FILE]

Validates SPEC (every error at once, each with its key path; exit 2 on any), then lists its
connections and prints, per connection, the URL, the asset universe its symbols resolve in, the
handshake headers and the exact frames it would send: the auth message first, then the setup
messages, then the subscribe messages per channel (or `all`) for those assets its universe
knows. Credentials are shown as *** wherever they appear (URL query, headers, frames).
]]

-- The lines of one outbound frame: `what` then the text (or bytes, a Socket.IO packet, an HTTP
-- request with its headers); the topics of an MQTT or ZeroMQ message follow, one a line.
local function frame_lines(out, what, fr, c)
  local head = what
  if fr.event and c.backend == "socketio" then   -- the emit as it goes on the wire
    local sio = require("feedhost.transport.socketio")
    local ns = (c.options.namespace or "/"):match("^[^?]*")
    if fr.binary then
      out[#out + 1] = head .. sio.binary_emit_packet(fr, ns) .. " + (binary " .. #fr.binary .. " bytes)"
    else
      out[#out + 1] = head .. sio.emit_packet(fr, ns)
    end
    return
  elseif fr.event then
    head = head .. "(event " .. fr.event .. (fr.namespace and (" " .. fr.namespace) or "") .. ") "
  end
  local body
  if fr.text then
    body = fr.text
  elseif fr.binary then
    body = "(binary " .. #fr.binary .. " bytes) " .. require("feedhost.bytes").to_hex(fr.binary)
  elseif fr.http then
    local h = fr.http
    local url = require("feedhost.runtime.http_out").resolve(h.url, c.url)
    out[#out + 1] = head .. h.method .. " " .. url .. (h.body and (" " .. h.body) or "")
    local names = {}
    for k in pairs(h.headers or {}) do
      names[#names + 1] = k
    end
    table.sort(names)
    for _, k in ipairs(names) do
      out[#out + 1] = "      header: " .. k .. ": " .. tostring(h.headers[k])
    end
    return
  end
  if fr.topics == nil then
    out[#out + 1] = head .. (body or "(empty)")
    return
  end
  local topics, err = require("feedhost.transport").topic_list(fr.topics)
  if not topics then
    out[#out + 1] = head .. (body and (body .. "  ") or "") .. "(bad topics: " .. err .. ")"
    return
  end
  local word = c.backend == "zmq" and "prefix" or "topic"
  out[#out + 1] = head .. (body or string.format("%d %s%s", #topics, word, #topics == 1 and "" or "s"))
  for _, t in ipairs(topics) do
    out[#out + 1] = "      " .. word .. " " .. (t[1] == "" and "(everything)" or t[1])
      .. (c.backend == "mqtt" and ("  qos " .. t[2]) or "")
  end
end

-- "spot (2 assets from bybit_spot.json; BTCUSDT)": the universe of a connection, where its rows
-- came from, duplicates, and which of the --assets it knows
local function universe_line(u, list)
  if not u then
    return "none"
  end
  local known = {}
  for _, a in ipairs(list) do
    if not u.closed or u:get(a.symbol) then
      known[#known + 1] = a.symbol
    end
  end
  local line = string.format("%s (%s", u.name, u.closed and (u:count() .. " assets from "
    .. tostring(u.source)) or "open: assets by symbol, no master data")
  if u.closed and #list > 0 then
    line = line .. "; of --assets: " .. (#known > 0 and table.concat(known, ", ") or "none")
  end
  line = line .. ")"
  for _, d in ipairs(u.duplicates and u:duplicate_lines(3) or {}) do
    line = line .. "\n    duplicate: " .. d
  end
  return line
end

function M.run(opts, pos)
  local symbols, aerr = args.assets(opts)
  if not symbols then
    return args.report("check", aerr)
  end
  local spec, err, code = require("feedhost").load({ spec = pos[1], credentials = opts.credentials,
    trusted = opts["trusted-spec"] })
  if not spec then
    return args.report("check", err, code)
  end
  local list, rerr = spec:resolve(symbols)
  if not list then
    return args.report("check", "--assets: " .. rerr)
  end
  local out = {}
  out[#out + 1] = string.format("%s: ok: spec '%s', %d connection%s", spec.file, spec.name,
    #spec.order, #spec.order == 1 and "" or "s")
  for _, name in ipairs(spec.order) do
    local c, cerr = spec:outbound(name, list)
    if not c then
      return args.report("check", string.format("%s: connection %s: %s", spec.file, name, cerr))
    end
    out[#out + 1] = ""
    out[#out + 1] = string.format("connection %s (%s, auth %s)", name, c.backend, c.auth_mode)
    out[#out + 1] = "  url: " .. c.url
    out[#out + 1] = "  universe: " .. universe_line(c.universe, list)
    if c.backend == "socketio" then
      local sio = require("feedhost.transport.socketio")
      local u = sio.parse_url(c.url)
      if u then
        out[#out + 1] = "  handshake: " .. string.format("%s://%s:%d%s", u.tls and "wss" or "ws",
          u.host, u.port, sio.handshake_path(u, c.options))
      end
      local ns = c.options.namespace or "/"
      local eio = c.options.eio or sio.DEFAULTS.eio
      if eio >= 4 or ns ~= "/" then
        out[#out + 1] = "  > connect: 40" .. (ns ~= "/" and (ns .. ",") or "") .. (c.connect or "")
      else
        out[#out + 1] = "  < connect: 40 (Engine.IO 3: the server connects the namespace itself)"
      end
    end
    out[#out + 1] = "  streams: " .. table.concat(c.streams, ", ")
    for _, h in ipairs(c.headers) do
      out[#out + 1] = "  header: " .. h[1] .. ": " .. h[2]
    end
    if c.login then   -- MQTT: the session's CONNECT
      out[#out + 1] = "  login: user " .. tostring(c.login.username)
        .. (c.login.password and " (password set)" or " (no password)")
    end
    for _, fr in ipairs(c.auth) do
      frame_lines(out, "  > auth: ", fr, c)
    end
    for _, fr in ipairs(c.setup) do
      frame_lines(out, "  > setup: ", fr, c)
    end
    -- what `run` sends, assets or not (trade_updates needs none); an `all` entry says so
    for _, fr in ipairs(c.subscribe) do
      frame_lines(out, "  > subscribe " .. (fr.entry == "all" and "all" or fr.channel) .. ": ", fr, c)
    end
    if #list == 0 and c.has_subscribe then
      out[#out + 1] = "  (no --assets: these are the frames for an empty asset list)"
    end
  end
  -- what it would send, as it would send it, but the credentials (the logger's secrets, every
  -- credential and its URL-encoded and JSON forms): never printed in clear
  io.stdout:write(spec.log:redact(table.concat(out, "\n")), "\n")
  return 0
end

return M
