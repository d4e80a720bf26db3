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

local function frame_text(fr)
  local head = ""
  if fr.event then
    head = "(event " .. fr.event .. (fr.namespace and (" " .. fr.namespace) or "") .. ") "
  end
  if fr.text then
    return head .. fr.text
  elseif fr.binary then
    return head .. "(binary " .. #fr.binary .. " bytes) " .. require("feedhost.bytes").to_hex(fr.binary)
  elseif fr.http then
    local h = fr.http
    return head .. h.method .. " " .. h.url .. (h.body and (" " .. h.body) or "")
  elseif fr.topics then
    return head .. "topics " .. require("feedhost.util.json").encode(fr.topics)
  end
  return head .. "(empty)"
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
    out[#out + 1] = "  streams: " .. table.concat(c.streams, ", ")
    for _, h in ipairs(c.headers) do
      out[#out + 1] = "  header: " .. h[1] .. ": " .. h[2]
    end
    for _, fr in ipairs(c.auth) do
      out[#out + 1] = "  > auth: " .. frame_text(fr)
    end
    for _, fr in ipairs(c.setup) do
      out[#out + 1] = "  > setup: " .. frame_text(fr)
    end
    -- what `run` sends, assets or not (trade_updates needs none); an `all` entry says so
    for _, fr in ipairs(c.subscribe) do
      out[#out + 1] = "  > subscribe " .. (fr.entry == "all" and "all" or fr.channel) .. ": "
        .. frame_text(fr)
    end
    if #list == 0 and c.has_subscribe then
      out[#out + 1] = "  (no --assets: these are the frames for an empty asset list)"
    end
  end
  -- what it would send, as it would send it, but the credentials: never printed in clear
  io.stdout:write(spec.log:redact(table.concat(out, "\n")), "\n")
  return 0
end

return M
