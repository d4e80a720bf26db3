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

local function frame_text(fr)
  local head = ""
  if fr.event then
    head = "(event " .. fr.event .. (fr.namespace and (" " .. fr.namespace) or "") .. ") "
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
  if fr.topics then   -- MQTT subscriptions, ZeroMQ SUB prefixes (beside a ZeroMQ command)
    local t = "topics " .. require("feedhost.util.json").encode(fr.topics)
    body = body and (body .. "  + " .. t) or t
  end
  return head .. (body or "(empty)")
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
    for _, fr in ipairs(c.auth) do
      out[#out + 1] = "  > auth: " .. frame_text(fr)
    end
    -- what `run` sends, assets or not (trade_updates needs none)
    for _, fr in ipairs(c.subscribe) do
      out[#out + 1] = "  > subscribe " .. fr.channel .. ": " .. frame_text(fr)
    end
    if #list == 0 and c.has_subscribe then
      out[#out + 1] = "  (no --assets: these are the frames for an empty asset list)"
    end
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
  return 0
end

return M
