--- Helpers for the tests of feedhost.runtime over a real reactor: a scripted WebSocket server on
-- the same reactor (127.0.0.1, ephemeral port), a connection spec, a runtime started against the
-- server, waits with a deadline that fail with a clear message, and what the connection logged.
--
--   local h = require("spec.helpers.runtime")
--   local srv = h.server(R, h.answer)                         -- answers auth and subscribe
--   local env = h.start(R, h.conn_spec({ heartbeat = {...} }), srv.port, { "AAPL" })
--   h.wait_for(R, "a second connection", function() return srv.accepted >= 2 end, 3, env)
--   h.delays(env)                                             -- {0.05, 0.1, ...}
require("feedhost.core")
local ffi = require("ffi")
local json = require("feedhost.util.json")
local schema = require("feedhost.spec.schema")
local specmod = require("feedhost.spec")
local reactor = require("feedhost.runtime.reactor")
local runtime = require("feedhost.runtime")
local logmod = require("feedhost.util.log")

local M = {}

M.SECRET = "sekrit-123"

--- A fresh reactor for every test of the calling describe block: `set(R)` receives it before
-- each test; it is freed after. (busted's before_each/after_each are the spec file's: pass them.)
function M.reactor_per_test(before_each, after_each, set)
  local R
  before_each(function()
    R = assert(reactor.new())
    set(R)
  end)
  after_each(function()
    R:free()
  end)
end

--- A scripted server: every accepted connection is a table {id, got = {texts}, open,
-- close_code}; `on_text(srv, c, text)` answers, `on_accept(srv, c)` greets.
function M.server(R, on_text, on_accept)
  local srv = { conns = {}, accepted = 0 }
  local acceptor = {}
  function acceptor.on_accept(_, id)
    local c = { id = id, got = {}, open = true }
    srv.conns[#srv.conns + 1] = c
    srv.accepted = srv.accepted + 1
    local h = {}
    function h.on_frames(_, _, b)
      for i = 0, b.n - 1 do
        local f = b.frames[i]
        local text = ffi.string(b.buf + f.off, f.len)
        c.got[#c.got + 1] = text
        if on_text then
          on_text(srv, c, text)
        end
      end
    end
    function h.on_close(_, _, code)
      c.open, c.close_code = false, code
    end
    if on_accept then
      on_accept(srv, c)
    end
    return h
  end
  local _, port = R:listen("ws-server", { host = "127.0.0.1", port = 0 }, acceptor)
  srv.port = port
  function srv.send(c, text)
    R:send(c.id, text)
  end
  function srv.close(c, code, reason)
    R:close(c.id, code, reason)
  end
  function srv.all_got()
    local out = {}
    for _, c in ipairs(srv.conns) do
      for _, t in ipairs(c.got) do
        out[#out + 1] = t
      end
    end
    return out
  end
  --- the decoded messages connection `c` got with this action
  function srv.actions(c, action)
    local out = {}
    for _, t in ipairs(c.got) do
      local m = json.decode(t)
      if m.action == action then
        out[#out + 1] = m
      end
    end
    return out
  end
  return srv
end

--- An Alpaca-like server's answer to an auth or subscribe message (nil for anything else).
function M.reply(text)
  local m = json.decode(text)
  if m.action == "auth" then
    return '[{"T":"success","msg":"authenticated"}]'
  elseif m.action == "subscribe" then
    return '[{"T":"subscription","trades":' .. json.encode(m.trades or {}) .. '}]'
  end
end

--- on_text for M.server: answers auth and subscribe messages as Alpaca does.
function M.answer(srv, c, text)
  local r = M.reply(text)
  if r then
    srv.send(c, r)
  end
end

--- A port on 127.0.0.1 where nothing listens (a listener bound, then closed).
function M.closed_port(R)
  local lid, port = assert(R:listen("ws-server", { host = "127.0.0.1", port = 0 }, {}))
  assert(R:close(lid))
  return port
end

--- A connection spec like Alpaca's market data (auth ack, subscribe per asset list), with `extra`
-- keys set over it.
function M.conn_spec(extra)
  local conn = {
    url = "ws://127.0.0.1:1/feed",
    streams = { "data" },
    frame = "array",
    auth = {
      mode = "first_message",
      first_message = { format = "json", json = { fields = {
        action = { value = "auth" }, key = { source = "credentials.key" } } } },
      ack = "data[1] ~= nil and data[1].T == 'success' and data[1].msg == 'authenticated'",
      reject = "data[1] ~= nil and data[1].T == 'error'",
    },
    subscribe = { subscribe = { data = { format = "json", json = { fields = {
      action = { value = "subscribe" },
      trades = { source = "map(subscribe_assets, '|a| a.symbol')" } } } } } },
    router = { rules = { { channel = "data", match = "data.T == 't'" } }, default_channel = "info" },
    converters = { data = { { fields = {
      asset = { source = "broker.infer_asset({symbol = data.S})" },
      timestamp = { source = "ts(data.t)" },
      data = { price = { source = "data.p" }, volume = { source = "data.s" } },
    } } } },
    reconnect = { initial = 0.05, max = 0.2, factor = 2, jitter = 0, stable_after = 5 },
  }
  for k, v in pairs(extra or {}) do
    conn[k] = v
  end
  return conn
end

--- Compiles `conn` and starts a runtime on R against `port`. opts: random, recorder (runtime.new's).
-- @return env {rt, records, lines (the log), compiled}
function M.start(R, conn, port, symbols, opts)
  opts = opts or {}
  local spec = { name = "t", streaming = { connections = { feed = conn } } }
  local errs = schema.validate(spec, "t.lua")
  assert(#errs == 0, schema.format_errors(errs, "t.lua"))
  local env = { records = {}, lines = {} }
  local log = logmod.new({ level = "debug", burst = 1000, sink = function(l) env.lines[#env.lines + 1] = l end })
  log:add_secret(M.SECRET)
  local compiled = assert(specmod.compile({ file = "t.lua", dir = ".", spec = spec }, {
    credentials = { key = M.SECRET }, log = log, open_assets = symbols,
    emit = function(r) env.records[#env.records + 1] = r end,
  }))
  local rt = runtime.new({ compiled = compiled, reactor = R, log = log, random = opts.random,
    recorder = opts.recorder, urls = { feed = "ws://127.0.0.1:" .. port .. "/feed" } })
  rt:set_assets(compiled.universe:resolve(symbols))
  rt:start()
  env.rt, env.compiled = rt, compiled
  return env
end

--- The last `n` lines of the log of env, for failure messages.
function M.tail(env, n)
  if not env then
    return ""
  end
  local lines = env.lines
  local from = math.max(1, #lines - (n or 30) + 1)
  return "\n--- log (last lines):\n" .. table.concat(lines, "\n", from, #lines)
end

--- Steps R until cond() holds; fails the test after `secs` seconds naming `what`, with the tail
-- of env's log. @return cond()'s value
function M.wait_for(R, what, cond, secs, env)
  local deadline = reactor.now() + (secs or 5)
  while true do
    local v = cond()
    if v then
      return v
    end
    if reactor.now() >= deadline then
      error(string.format("timed out after %.1fs waiting for %s%s", secs or 5, what, M.tail(env)), 2)
    end
    R:step(10)
  end
end

--- The reconnect delays the connection logged, in order (seconds, as logged: 2 decimals).
-- `label`: only lines of this connection label ("feed", "feed[2]").
function M.delays(env, label)
  local out = {}
  for _, l in ipairs(env.lines) do
    -- "[feed] reconnecting in 0.05s", "[feed] feed[2]: reconnecting in 0.05s"
    local def, rest = l:match("%[([^%]]*)%] (.*)$")
    local who, d = (rest or ""):match("^(%S+): reconnecting in ([%d.]+)s")
    if not d then
      who, d = def, (rest or ""):match("^reconnecting in ([%d.]+)s")
    end
    if d and (label == nil or who == label) then
      out[#out + 1] = tonumber(d)
    end
  end
  return out
end

--- The log lines containing `text` (plain).
function M.grep(env, text)
  local out = {}
  for _, l in ipairs(env.lines) do
    if l:find(text, 1, true) then
      out[#out + 1] = l
    end
  end
  return out
end

--- The first n entries of list.
function M.first(list, n)
  local out = {}
  for i = 1, math.min(n, #list) do
    out[i] = list[i]
  end
  return out
end

--- Asserts no log line of env shows the secret.
function M.assert_no_secret(env)
  for i, l in ipairs(env.lines) do
    assert(not l:find(M.SECRET, 1, true), "log line " .. i .. " shows the secret: " .. l)
  end
end

return M
