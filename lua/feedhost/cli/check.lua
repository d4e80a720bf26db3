--- feedhost check: validate a spec and print what it would send.
local args = require("feedhost.cli.args")

local M = { name = "check", npos = 1,
  options = { assets = "value", ["assets-file"] = "value", credentials = "value" } }

M.help = [[
usage: feedhost check SPEC [--assets A,B | --assets-file F] [--credentials FILE]

Validates SPEC (every error at once, each with its key path; exit 2 on any), then lists its
connections and prints, per connection, the URL, the handshake headers and the exact frames it
would send: the auth message first, then the subscribe messages per channel for the assets.
]]

-- The lines of one outbound frame: `what` then the text (or bytes, or HTTP request); the
-- topics of an MQTT or ZeroMQ message follow, one a line.
local function frame_lines(out, what, fr, backend)
  local head = what
  if fr.event then
    head = head .. "(event " .. fr.event .. (fr.namespace and (" " .. fr.namespace) or "") .. ") "
  end
  local body
  if fr.text then
    body = fr.text
  elseif fr.binary then
    body = "(binary " .. #fr.binary .. " bytes) " .. require("feedhost.bytes").to_hex(fr.binary)
  elseif fr.http then
    local h = fr.http
    body = h.method .. " " .. h.url .. (h.body and (" " .. h.body) or "")
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
  local word = backend == "zmq" and "prefix" or "topic"
  out[#out + 1] = head .. (body or string.format("%d %s%s", #topics, word, #topics == 1 and "" or "s"))
  for _, t in ipairs(topics) do
    out[#out + 1] = "      " .. word .. " " .. (t[1] == "" and "(everything)" or t[1])
      .. (backend == "mqtt" and ("  qos " .. t[2]) or "")
  end
end

function M.run(opts, pos)
  local symbols, aerr = args.assets(opts)
  if not symbols then
    return args.report("check", aerr)
  end
  local spec, err, code = require("feedhost").load({ spec = pos[1], credentials = opts.credentials })
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
    out[#out + 1] = "  streams: " .. table.concat(c.streams, ", ")
    for _, h in ipairs(c.headers) do
      out[#out + 1] = "  header: " .. h[1] .. ": " .. h[2]
    end
    if c.login then   -- MQTT: the session's CONNECT
      out[#out + 1] = "  login: user " .. tostring(c.login.username)
        .. (c.login.password and " (password set)" or " (no password)")
    end
    for _, fr in ipairs(c.auth) do
      frame_lines(out, "  > auth: ", fr, c.backend)
    end
    -- what `run` sends, assets or not (trade_updates needs none)
    for _, fr in ipairs(c.subscribe) do
      frame_lines(out, "  > subscribe " .. fr.channel .. ": ", fr, c.backend)
    end
    if #list == 0 and c.has_subscribe then
      out[#out + 1] = "  (no --assets: these are the frames for an empty asset list)"
    end
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
  return 0
end

return M
