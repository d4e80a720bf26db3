--- The spec format of feedhost, described as data (DESIGN.md sections 2 and 3).
---
--- `M.SCHEMA` is the tree of nodes a spec is checked against by `feedhost.spec.schema` (the
--- walker, which also documents the node kinds); `M.nodes` names some of its subtrees. Check
--- functions of record nodes use the walker's `tools` to name paths and suggest names.
---@class feedhost.spec.schema_def
local schema = require("feedhost.spec.schema")

local M = {}

local zmq_endpoint = require("feedhost.transport").zmq_endpoint
local push, repr, join, or_list, sorted_keys, did_you_mean = schema.tools.push,
  schema.tools.repr, schema.tools.join, schema.tools.or_list, schema.tools.sorted_keys,
  schema.tools.did_you_mean

M.CHANNELS = { "data", "quote", "order", "position", "account", "news", "trade", "heartbeat",
  "info", "unknown" }

M.ASSET_FIELDS = { "symbol", "broker_symbol", "security_id", "exchange", "name", "asset_class",
  "tick_size", "lot_size", "expiry", "strike", "option_type" }

local VALUE_HINT = 'expected a value table like { source = "..." } or { value = ... }'
local LEAF_KEYS = { "source", "value", "custom" }
local LEAF_ALL_KEYS = { "condition", "custom", "default", "source", "value" }

---------------------------------------------------------------------------------------------
-- node constructors (the schema language)

local function S(o) o = o or {}; o.kind = "string"; return o end
local function N(o) o = o or {}; o.kind = "number"; return o end
local function B() return { kind = "boolean" } end
local function F() return { kind = "func" } end
local function ANY() return { kind = "any" } end
local function CONST() return { kind = "const" } end
local function TABLE() return { kind = "table" } end
local function enum(values, o) o = o or {}; o.kind = "enum"; o.values = values; return o end
local function list(item, o) o = o or {}; o.kind = "list"; o.item = item; return o end
local function map(key, value, o) o = o or {}; o.kind = "map"; o.key = key; o.value = value; return o end
local function record(keys, o) o = o or {}; o.kind = "record"; o.keys = keys; return o end
local function by_type(types, order) return { kind = "by_type", types = types, order = order } end

local STRING = S()
local EXPR = by_type({ string = S(), ["function"] = F() }, { "string", "function" })
EXPR.what = "expression"
local FNREF = by_type({ string = { kind = "regname" }, ["function"] = F() }, { "string", "function" })
FNREF.what = "function reference"
-- a hook: a function, a registry name, or { custom = name | function } as values take it
local HOOK = by_type({ string = { kind = "regname" }, ["function"] = F(),
  table = record({ custom = FNREF }, { required = { "custom" } }) }, { "string", "function", "table" })
local CHANNEL = enum(M.CHANNELS)
local CHANNEL_OR_ALL = enum({ "all", unpack(M.CHANNELS) })
local NAME = S() -- keys of free-form maps (field names, header names, ...)
local STRINGS = list(STRING)

-- a leaf value
local LEAF = record({
  source = by_type({ string = S(), ["function"] = F() }, { "string", "function" }),
  value = ANY(),
  custom = FNREF,
  condition = EXPR,
  default = CONST(),
}, { exactly_one = LEAF_KEYS })

-- a value: a leaf, or a nested table or list of values
local VALUE = { kind = "value", leaf = LEAF, leaf_keys = LEAF_KEYS, leaf_all_keys = LEAF_ALL_KEYS,
  hint = VALUE_HINT }

-- fields = { <name> = value }
local FIELDS = map(NAME, VALUE, { what = "field" })

-- json = { fields = ... } | { source = ... } | { custom = ... } | { value = ... }
local JSON_BODY = record({
  fields = FIELDS,
  source = by_type({ string = S(), ["function"] = F() }, { "string", "function" }),
  value = ANY(),
  custom = FNREF,
  condition = EXPR,
  default = CONST(),
}, { exactly_one = { "fields", "source", "value", "custom" } })

local WITH_FIELDS = record({ fields = FIELDS }, { required = { "fields" } })

local MESSAGE = record({
  format = enum({ "json", "text", "binary", "http" }),
  json = JSON_BODY,
  order = STRINGS,
  text = STRING,
  tokens = WITH_FIELDS,
  encoder = FNREF,
  event = STRING,
  namespace = STRING,
  topics = VALUE,
  custom = FNREF,
  method = enum({ "GET", "POST", "PUT", "DELETE" }),
  url = STRING,
  headers = WITH_FIELDS,
  condition = EXPR,   -- false: the message (for this asset) is not sent
}, {
  what = "message",
  required = { "format" },
  requires_when = {
    on = "format",
    -- MQTT / ZeroMQ subscribe messages give `topics` or `custom` instead of a json body
    cases = { json = { { "json", "topics", "custom" } }, text = { "text" },
      binary = { "encoder" }, http = { "url" } },
  },
})

local MESSAGE_MAP_HINT = "a message goes under a channel name or 'all', e.g."
  .. " subscribe = { all = { format = ..., ... } }"
-- a subscribe entry is one message or a list of messages sent in order (Kite: subscribe, then mode)
local MESSAGES = { kind = "one_or_list", item = MESSAGE, list = list(MESSAGE, { nonempty = true }) }
local MESSAGE_MAP = map(CHANNEL_OR_ALL, MESSAGES, { hint_keys = {} })
for _, k in ipairs({ "format", "json", "text", "tokens", "topics", "custom", "encoder" }) do
  MESSAGE_MAP.hint_keys[k] = MESSAGE_MAP_HINT
end

local function positive(o) o = o or {}; o.gt = 0; return N(o) end
local function nonneg(o) o = o or {}; o.min = 0; return N(o) end

local BACKEND_TYPES = { "websocket", "socketio", "mqtt", "zmq" }

local URL_SCHEMES = {
  websocket = { "ws", "wss" },
  socketio = { "http", "https", "ws", "wss" },
  mqtt = { "tcp", "ssl", "ws", "wss", "mqtt", "mqtts" },
}

-- Socket.IO: every message to the server is an emit (`event`), but for the auth first message,
-- which without `event` is the namespace CONNECT payload (Engine.IO 4 only); `events` is
-- Socket.IO's alone.
local function check_socketio(t, segs, ctx, btype)
  if btype ~= "socketio" then
    if t.events ~= nil then
      ctx.err(push(segs, "events"), "only for backend type 'socketio' (event names of channels)")
    end
    return
  end
  local function need_event(m, path)
    if type(m) == "table" and m.format ~= "http" and m.event == nil and m.format ~= nil then
      ctx.err(path, "a Socket.IO message is an emit: give its event name (event = \"...\")"
        .. (m.format == "json" and ", or format = \"http\" for a subscription over HTTP" or ""))
    end
  end
  for _, kind in ipairs({ "subscribe", "unsubscribe" }) do
    local map_ = type(t.subscribe) == "table" and t.subscribe[kind]
    for _, key in ipairs(type(map_) == "table" and sorted_keys(map_) or {}) do
      local e = map_[key]
      local p = push(push(push(segs, "subscribe"), kind), key)
      if type(e) == "table" and e.format == nil and e[1] ~= nil then
        for i, m in ipairs(e) do
          need_event(m, push(p, i))
        end
      else
        need_event(e, p)
      end
    end
  end
  if type(t.heartbeat) == "table" then
    need_event(t.heartbeat.message, push(push(segs, "heartbeat"), "message"))
  end
  local fm = type(t.auth) == "table" and t.auth.first_message
  local opts = type(t.backend) == "table" and type(t.backend.options) == "table" and t.backend.options
  if opts and type(opts.namespace) == "string" and opts.namespace:sub(1, 1) ~= "/" then
    ctx.err(push(push(push(segs, "backend"), "options"), "namespace"), "a Socket.IO namespace"
      .. " starts with '/', got " .. repr(opts.namespace))
  end
  if type(fm) == "table" and fm.event == nil and opts and opts.eio == 3 then
    ctx.err(push(push(segs, "auth"), "first_message"), "Engine.IO 3 has no CONNECT payload: put"
      .. " the credentials in the URL (auth.mode = \"url\") or make the message an emit (event)")
  end
end

local CONNECTION = record({
  description = STRING,
  url = STRING,
  backend = record({
    type = enum(BACKEND_TYPES),
    options = {
      kind = "depends", on = "type", default = "websocket",
      cases = {
        websocket = record({
          headers = map(NAME, by_type({ string = S(), number = N() }, { "string", "number" })),
          verify = B(),
          ca_file = STRING,
          deflate = B(),
          ping_interval = nonneg(),
          ping_timeout = nonneg(),
        }),
        socketio = record({
          eio = enum({ 3, 4 }),
          path = STRING,
          namespace = STRING,
          transports = list(enum({ "websocket" }, { hint = "feedhost speaks Socket.IO over"
            .. " WebSocket only (no long-polling)" })),
          headers = map(NAME, by_type({ string = S(), number = N() }, { "string", "number" })),
          verify = B(),
          ca_file = STRING,
        }),
        mqtt = record({
          client_id = STRING,            -- "{random}" becomes 16 random hex digits
          keepalive = nonneg(),
          transport = enum({ "tcp", "websockets" }),
          clean_session = B(),
          qos = enum({ 0, 1, 2 }),       -- of topics given without one
          username = STRING,
          password = STRING,
          ca_file = STRING,
          verify = B(),
          connect_timeout = positive(),
          max_queued = positive({ integer = true }),
          -- the seed's paho-python names: ca_certs (as ca_file), certfile and keyfile (a client
          -- certificate); tls_version is accepted, OpenSSL negotiates the version
          tls_kwargs = record({ ca_certs = STRING, certfile = STRING, keyfile = STRING,
            tls_version = N() }),
        }),
        zmq = record({
          socket_type = enum({ "SUB", "PULL", "DEALER", "PAIR" }),
          subscribe_filter = by_type({ string = S(), table = STRINGS }, { "string", "table" }),
          command_endpoint = STRING,
          command_socket_type = enum({ "PUSH", "DEALER", "PAIR" }),
          reply_endpoint = STRING,
          bind = B(),
          rcvhwm = nonneg({ integer = true }),
          sndhwm = nonneg({ integer = true }),
        }, {
          check = function(t, segs, ctx)
            for _, k in ipairs({ "command_endpoint", "reply_endpoint" }) do
              if type(t[k]) == "string" then
                local ok, err = zmq_endpoint(t[k])
                if not ok then ctx.err(push(segs, k), err) end
              end
            end
          end,
        }),
      },
      otherwise = TABLE(),
    },
  }),
  streams = list(CHANNEL),
  events = map(CHANNEL, STRING),
  -- what one frame is: one element, a JSON array of them, or a fan-out with outer values
  -- (feedhost.spec.fanout)
  frame = by_type({
    string = enum({ "record", "array" }),
    table = record({
      each = by_type({ string = S(), table = list(STRING, { min = 1 }) }, { "string", "table" }),
      with = map({ kind = "ident", what = "with name" }, STRING, { what = "with value" }),
      when = EXPR,
    }, { required = { "each" }, check = function(t, segs, ctx)
      require("feedhost.spec.fanout").check(t, segs, ctx, push)
    end }),
  }, { "string", "table" }),
  universe = STRING,
  setup = MESSAGES,
  auth = record({
    mode = enum({ "none", "headers", "first_message", "url", "login" }),
    headers = WITH_FIELDS,
    first_message = MESSAGE,
    url = record({ query = WITH_FIELDS }, { required = { "query" } }),
    username = VALUE,   -- login (MQTT CONNECT)
    password = VALUE,
    ack = EXPR,
    reject = EXPR,
    timeout = positive(),
  }, {
    required = { "mode" },
    requires_when = { on = "mode", cases = { headers = { "headers" },
      first_message = { "first_message" }, url = { "url" }, login = { "username" } } },
  }),
  subscribe = record({ subscribe = MESSAGE_MAP, unsubscribe = MESSAGE_MAP }),
  parser = record({
    format = enum({ "json", "text", "binary" }),
    preprocess = FNREF,
    decode = FNREF,
    payload_path = EXPR,
  }, { requires_when = { on = "format", cases = { binary = { "decode" } } } }),
  router = record({
    enabled = B(),
    rules = list(record({ channel = CHANNEL, match = EXPR },
      { required = { "channel", "match" } })),
    default_channel = CHANNEL,
  }),
  converters = map(CHANNEL, list(record({
    condition = EXPR,
    fields = FIELDS,
    custom = FNREF,
  }, { exactly_one = { "fields", "custom" } }))),
  hooks = record({ on_connect = HOOK, on_disconnect = HOOK, on_error = HOOK,
    on_message = HOOK, on_info = HOOK }),
  heartbeat = record({
    interval = positive(),
    message = by_type({
      string = enum({ "ping" }, { hint = "the only string allowed is 'ping' (a WebSocket ping"
        .. " frame); use a message table for anything else" }),
      table = MESSAGE,
    }, { "string", "table" }),
    timeout = positive(),
    idle_timeout = positive(),
    reply = STRING,
  }, {
    check = function(t, segs, ctx)
      if t.message ~= nil and t.interval == nil then
        ctx.err(push(segs, "interval"), "required when heartbeat.message is set")
      end
    end,
  }),
  reconnect = record({
    initial = nonneg(),
    max = nonneg(),
    factor = N({ min = 1 }),
    jitter = N({ min = 0, max = 1 }),
    stable_after = nonneg(),
  }, {
    check = function(t, segs, ctx)
      if type(t.initial) == "number" and type(t.max) == "number" and t.max < t.initial then
        ctx.err(push(segs, "max"), "must be >= initial (" .. tostring(t.initial) .. "), got "
          .. tostring(t.max))
      end
    end,
  }),
  limits = record({
    max_assets = positive({ integer = true }),
    subscribe_rate = positive(),
    max_frame_bytes = positive({ integer = true }),
    connect_timeout = positive(),
  }),
}, {
  required = { "url" },
  check = function(t, segs, ctx)
    -- the url scheme must suit the backend (zmq: a ZeroMQ endpoint)
    local btype = "websocket"
    if type(t.backend) == "table" and t.backend.type ~= nil then btype = t.backend.type end
    check_socketio(t, segs, ctx, btype)
    if type(t.auth) == "table" and t.auth.mode == "login" and btype ~= "mqtt" then
      ctx.err(push(push(segs, "auth"), "mode"), "'login' (user name and password in the"
        .. " session's CONNECT) is for MQTT connections, this one is " .. repr(btype))
    end
    if type(t.url) ~= "string" then return end
    if btype == "zmq" then
      local ok, err = zmq_endpoint(t.url)
      if not ok then ctx.err(push(segs, "url"), err) end
      return
    end
    local schemes = URL_SCHEMES[btype]
    if not schemes then return end
    local scheme = t.url:match("^([%a][%w+.-]*)://")
    local ok = false
    if scheme then
      for _, s in ipairs(schemes) do if s == scheme:lower() then ok = true end end
    end
    if not ok then
      local want = {}
      for i, s in ipairs(schemes) do want[i] = s .. "://" end
      ctx.err(push(segs, "url"), "a " .. btype .. " url must start with " .. or_list(want)
        .. ", got " .. repr(t.url))
    end
  end,
})

local MAPPING = record({
  map = map(NAME, by_type({ string = S(), number = N(), table = list(by_type(
    { string = S(), number = N() }, { "string", "number" }), { min = 1 }) },
    { "string", "number", "table" }), { min = 1 }),
  default = STRING,
}, {
  required = { "map" },
  check = function(t, segs, ctx)
    if type(t.map) ~= "table" then return end
    if type(t.default) == "string" and t.map[t.default] == nil then
      local canon = {}
      for _, k in ipairs(sorted_keys(t.map)) do
        if type(k) == "string" then canon[#canon + 1] = k end
      end
      ctx.err(push(segs, "default"), repr(t.default) .. " is not a canonical value of this map"
        .. " (one of " .. join(canon) .. ")" .. did_you_mean(t.default, canon))
    end
    -- a broker value must map to one canonical value only
    local seen = {}
    for _, canon in ipairs(sorted_keys(t.map)) do
      local v = t.map[canon]
      local vals = type(v) == "table" and v or { v }
      for _, b in ipairs(vals) do
        if type(b) == "string" or type(b) == "number" then
          if seen[b] ~= nil and seen[b] ~= canon then
            ctx.err(push(push(segs, "map"), canon), "broker value " .. repr(b)
              .. " is already mapped to " .. repr(seen[b]))
          else
            seen[b] = canon
          end
        end
      end
    end
  end,
})

-- where master data rows come from (feedhost.data.master_sources)
local MASTER_SOURCE_KEYS = {
  file = by_type({ string = S(), table = list(STRING, { min = 1 }) }, { "string", "table" }),
  rows = list(TABLE()),
  custom = FNREF,
  format = enum({ "csv", "json" }),
  path = EXPR,
  key = STRING,
  delimiter = STRING,
}

-- a file's format must be given or follow from its extension
local function check_format(t, segs, ctx)
  if t.format ~= nil then return end
  local files = type(t.file) == "table" and t.file or { t.file }
  for i, f in ipairs(files) do
    if type(f) == "string" then
      local ext = (f:match("%.([%w]+)$") or ""):lower()
      if ext ~= "csv" and ext ~= "json" and ext ~= "tsv" then
        ctx.err(push(segs, "format"), "cannot infer the format from " .. repr(f)
          .. (type(t.file) == "table" and (" (file[" .. i .. "])") or "")
          .. "; set format = 'csv' or 'json'")
        return
      end
    end
  end
end

local MASTER_SOURCE = record(MASTER_SOURCE_KEYS, { exactly_one = { "file", "rows", "custom" },
  check = check_format })

local master_keys = { sources = list(MASTER_SOURCE, { min = 1 }),
  fields = map(enum(M.ASSET_FIELDS), by_type({ string = S(), ["function"] = F(),
    table = record({ source = EXPR }, { required = { "source" } }) },
    { "string", "function", "table" })),
  filter = EXPR,
  duplicates = enum({ "warn", "error", "ignore" }),
}
for k, v in pairs(MASTER_SOURCE_KEYS) do
  master_keys[k] = v
end
local MASTER_DATA = record(master_keys, {
  exactly_one = { "file", "rows", "custom", "sources" },
  check = check_format,
})

M.SCHEMA = record({
  name = STRING,
  description = STRING,
  version = by_type({ number = N(), string = S() }, { "number", "string" }),
  credentials = record({ fields = STRINGS, optional = STRINGS }),
  mappings = map(NAME, MAPPING),
  master_data = MASTER_DATA,
  universes = map({ kind = "ident", what = "universe name" }, MASTER_DATA, { what = "universe" }),
  registry = map(NAME, F()),
  streaming = record({
    connections = map({ kind = "ident", what = "connection name" }, CONNECTION, {
      min = 1, empty_msg = "at least one connection is required",
    }),
  }, { required = { "connections" } }),
}, { required = { "name", "streaming" }, check = function(t, segs, ctx)
  -- a connection's universe must be one the spec defines
  local conns = type(t.streaming) == "table" and t.streaming.connections
  if type(conns) ~= "table" then return end
  local names = { "default" }
  for _, k in ipairs(sorted_keys(type(t.universes) == "table" and t.universes or {})) do
    names[#names + 1] = k
  end
  for _, cname in ipairs(sorted_keys(conns)) do
    local c = conns[cname]
    local u = type(c) == "table" and c.universe
    if type(u) == "string" and u ~= "default"
      and not (type(t.universes) == "table" and t.universes[u] ~= nil) then
      ctx.err({ "streaming", "connections", cname, "universe" }, "no universe " .. repr(u)
        .. " (the spec has " .. join(names) .. ")" .. did_you_mean(u, names))
    end
  end
end })

M.nodes = {
  connection = CONNECTION, message = MESSAGE, value = VALUE, fields = FIELDS,
  expr = EXPR, fnref = FNREF, channel = CHANNEL, master_data = MASTER_DATA, mapping = MAPPING,
}

return M
