--- Spec validation for feedhost (DESIGN.md sections 2 and 3).
---
--- The whole spec format is described once, declaratively, in `M.SCHEMA` (a tree of nodes);
--- one generic walker (`walk`) checks a spec against it and collects every error. Nothing here
--- compiles or evaluates expressions: an expression is only checked to be a string or a function.
---
--- Node kinds (field `kind`):
---   string, number{min, gt, max, integer}, boolean, func, any, table, const (any non-function)
---   enum{values, hint}              one of a fixed set of values, with did-you-mean
---   ident{what}                     a string that is an identifier (letters, digits, underscore)
---   by_type{types = {luatype = node}, order}   dispatch on the Lua type of the value
---   record{keys, required, exactly_one, one_of_required, requires_when, open, check}
---   map{key, value, min, empty_msg, hint_keys}   any number of named entries
---   list{item, min}                 a sequence 1..n
---   depends{on, default, cases, otherwise}  node chosen by a sibling key (backend.options)
---   regname                         a registry function name (checked against spec.registry)
---   value                           the value grammar (leaf, nested table or list of values)
---@class feedhost.spec.schema
local M = {}

M.CHANNELS = { "data", "quote", "order", "position", "account", "news", "trade", "heartbeat",
  "info", "unknown" }

M.ASSET_FIELDS = { "symbol", "broker_symbol", "security_id", "exchange", "name", "asset_class",
  "tick_size", "lot_size", "expiry", "strike", "option_type" }

local VALUE_HINT = 'expected a value table like { source = "..." } or { value = ... }'
local LEAF_KEYS = { "source", "value", "custom" }
local LEAF_ALL_KEYS = { "condition", "custom", "default", "source", "value" }

---------------------------------------------------------------------------------------------
-- small helpers

local LUA_KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do
  LUA_KEYWORDS[w] = true
end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not LUA_KEYWORDS[s]
end

--- Formats a list of path segments: `streaming.connections.md.router.rules[2].match`.
---@param segs any[]
---@return string
function M.format_path(segs)
  if #segs == 0 then return "(spec)" end
  local out = {}
  for i, s in ipairs(segs) do
    if type(s) == "number" then
      out[#out + 1] = "[" .. tostring(s) .. "]"
    elseif is_identifier(s) then
      out[#out + 1] = (i == 1) and s or ("." .. s)
    elseif type(s) == "string" then
      out[#out + 1] = "[" .. string.format("%q", s) .. "]"
    else
      out[#out + 1] = "[" .. tostring(s) .. "]"
    end
  end
  return table.concat(out)
end

local function push(segs, key)
  local n = #segs
  local t = {}
  for i = 1, n do t[i] = segs[i] end
  t[n + 1] = key
  return t
end

local function repr(v)
  if type(v) == "string" then return "'" .. v .. "'" end
  return tostring(v)
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return ks
end

local function join(list, sep)
  local out = {}
  for i, v in ipairs(list) do out[i] = tostring(v) end
  return table.concat(out, sep or ", ")
end

-- "string", "number or string", "string, number or function"
local function or_list(list)
  if #list == 1 then return list[1] end
  return table.concat(list, ", ", 1, #list - 1) .. " or " .. list[#list]
end

-- Shape of a table: "empty", "list", "record" (only non-integer keys) or "mixed".
local function shape(t)
  local n_int, n_other = 0, 0
  for k in pairs(t) do
    if type(k) == "number" and k >= 1 and k % 1 == 0 then n_int = n_int + 1
    else n_other = n_other + 1 end
  end
  if n_int == 0 and n_other == 0 then return "empty" end
  if n_other == 0 then return "list" end
  if n_int == 0 then return "record" end
  return "mixed"
end

---------------------------------------------------------------------------------------------
-- suggestions

-- Unrestricted Damerau-Levenshtein distance (Lowrance-Wagner), on bytes.
local function dl_distance(a, b)
  local la, lb = #a, #b
  if la == 0 then return lb end
  if lb == 0 then return la end
  local inf = la + lb
  local d = {}
  for i = -1, la do d[i] = {} end
  d[-1][-1] = inf
  for i = 0, la do d[i][-1] = inf; d[i][0] = i end
  for j = 0, lb do d[-1][j] = inf; d[0][j] = j end
  local last_row = {}
  for i = 1, la do
    local ca = a:byte(i)
    local last_col = 0
    for j = 1, lb do
      local cb = b:byte(j)
      local k = last_row[cb] or 0
      local l = last_col
      local cost = 1
      if ca == cb then cost = 0; last_col = j end
      local v = d[i - 1][j - 1] + cost
      local ins = d[i][j - 1] + 1
      if ins < v then v = ins end
      local del = d[i - 1][j] + 1
      if del < v then v = del end
      local trans = d[k - 1][l - 1] + (i - k - 1) + 1 + (j - l - 1)
      if trans < v then v = trans end
      d[i][j] = v
    end
    last_row[ca] = i
  end
  return d[la][lb]
end
M.distance = dl_distance

--- The candidate closest to `word`, or nil. A case-insensitive match always qualifies;
--- otherwise the Damerau-Levenshtein distance must be <= max(1, #word // 3). Ties go to
--- the earlier candidate.
---@param word string
---@param candidates string[]
---@return string|nil
function M.suggest(word, candidates)
  if type(word) ~= "string" or type(candidates) ~= "table" then return nil end
  local lw = word:lower()
  for _, c in ipairs(candidates) do
    if c == word then return c end
  end
  for _, c in ipairs(candidates) do
    if type(c) == "string" and c:lower() == lw then return c end
  end
  local limit = math.max(1, math.floor(#word / 3))
  local best, best_d
  for _, c in ipairs(candidates) do
    if type(c) == "string" then
      local dist = dl_distance(word, c)
      if dist <= limit and (best_d == nil or dist < best_d) then best, best_d = c, dist end
    end
  end
  return best
end

local function did_you_mean(word, candidates)
  local s = M.suggest(word, candidates)
  if s then return " (did you mean '" .. s .. "'?)" end
  return ""
end

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
local VALUE = { kind = "value" }
local CHANNEL = enum(M.CHANNELS)
local CHANNEL_OR_ALL = enum({ "all", unpack(M.CHANNELS) })
local NAME = S() -- keys of free-form maps (field names, header names, ...)
local STRINGS = list(STRING)

-- fields = { <name> = value }
local FIELDS = map(NAME, VALUE, { what = "field" })

-- a leaf value
local LEAF = record({
  source = by_type({ string = S(), ["function"] = F() }, { "string", "function" }),
  value = ANY(),
  custom = FNREF,
  condition = EXPR,
  default = CONST(),
}, { exactly_one = LEAF_KEYS })

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
          transports = STRINGS,
          path = STRING,
        }, { open = true }),
        mqtt = record({
          keepalive = nonneg(),
          client_id = STRING,
          transport = enum({ "tcp", "websockets" }),
        }, { open = true }),
        zmq = record({
          socket_type = enum({ "SUB", "PULL", "DEALER", "REQ", "PAIR" }),
          subscribe_filter = STRING,
        }, { open = true }),
      },
      otherwise = TABLE(),
    },
  }),
  streams = list(CHANNEL),
  events = map(CHANNEL, STRING),
  frame = enum({ "record", "array" }),
  auth = record({
    mode = enum({ "none", "headers", "first_message", "url" }),
    headers = WITH_FIELDS,
    first_message = MESSAGE,
    url = record({ query = WITH_FIELDS }, { required = { "query" } }),
    ack = EXPR,
    reject = EXPR,
    timeout = positive(),
  }, {
    required = { "mode" },
    requires_when = { on = "mode", cases = { headers = { "headers" },
      first_message = { "first_message" }, url = { "url" } } },
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
  hooks = record({ on_connect = FNREF, on_disconnect = FNREF, on_error = FNREF,
    on_message = FNREF }),
  heartbeat = record({
    interval = positive(),
    message = by_type({
      string = enum({ "ping" }, { hint = "the only string allowed is 'ping' (a WebSocket ping"
        .. " frame); use a message table for anything else" }),
      table = MESSAGE,
    }, { "string", "table" }),
    timeout = positive(),
    idle_timeout = positive(),
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
  }),
}, {
  required = { "url" },
  check = function(t, segs, ctx)
    -- the url scheme must suit the backend (zmq takes any endpoint)
    if type(t.url) ~= "string" then return end
    local btype = "websocket"
    if type(t.backend) == "table" and t.backend.type ~= nil then btype = t.backend.type end
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

local MASTER_DATA = record({
  file = STRING,
  rows = list(TABLE()),
  custom = FNREF,
  format = enum({ "csv", "json" }),
  fields = map(enum(M.ASSET_FIELDS), STRING),
  filter = EXPR,
  delimiter = STRING,
}, {
  exactly_one = { "file", "rows", "custom" },
  check = function(t, segs, ctx)
    if type(t.file) == "string" and t.format == nil then
      local ext = (t.file:match("%.([%w]+)$") or ""):lower()
      if ext ~= "csv" and ext ~= "json" then
        ctx.err(push(segs, "format"), "cannot infer the format from " .. repr(t.file)
          .. "; set format = 'csv' or 'json'")
      end
    end
  end,
})

M.SCHEMA = record({
  name = STRING,
  description = STRING,
  version = by_type({ number = N(), string = S() }, { "number", "string" }),
  credentials = record({ fields = STRINGS, optional = STRINGS }),
  mappings = map(NAME, MAPPING),
  master_data = MASTER_DATA,
  registry = map(NAME, F()),
  streaming = record({
    connections = map({ kind = "ident", what = "connection name" }, CONNECTION, {
      min = 1, empty_msg = "at least one connection is required",
    }),
  }, { required = { "connections" } }),
}, { required = { "name", "streaming" } })

M.nodes = {
  connection = CONNECTION, message = MESSAGE, value = VALUE, fields = FIELDS,
  expr = EXPR, fnref = FNREF, channel = CHANNEL, master_data = MASTER_DATA, mapping = MAPPING,
}

---------------------------------------------------------------------------------------------
-- the walker

local walk

local function type_error(ctx, segs, expected, v)
  ctx.err(segs, "expected " .. expected .. ", got " .. type(v))
end

local function check_number(node, v, segs, ctx)
  if type(v) ~= "number" then return type_error(ctx, segs, "number", v) end
  if v ~= v then return ctx.err(segs, "expected a number, got nan") end
  if node.integer and v % 1 ~= 0 then
    return ctx.err(segs, "must be an integer, got " .. tostring(v))
  end
  if node.min and node.max and (v < node.min or v > node.max) then
    return ctx.err(segs, "must be between " .. node.min .. " and " .. node.max .. ", got "
      .. tostring(v))
  end
  if node.gt and v <= node.gt then
    return ctx.err(segs, "must be > " .. node.gt .. ", got " .. tostring(v))
  end
  if node.min and v < node.min then
    return ctx.err(segs, "must be >= " .. node.min .. ", got " .. tostring(v))
  end
end

local function check_enum(node, v, segs, ctx)
  for _, e in ipairs(node.values) do
    if v == e then return true end
  end
  local t = type(node.values[1])
  if type(v) ~= t then
    type_error(ctx, segs, t, v)
    return false
  end
  local msg = repr(v) .. " is not one of " .. join(node.values)
  if t == "string" then msg = msg .. did_you_mean(v, node.values) end
  if node.hint then msg = msg .. "; " .. node.hint end
  ctx.err(segs, msg)
  return false
end

-- Validates a map key; `ksegs` is the path of the entry.
local function check_key(node, k, ksegs, ctx, what)
  if type(k) ~= "string" then
    ctx.err(ksegs, "unexpected list entry (expected named " .. (what or "entries") .. ")")
    return
  end
  if node.kind == "enum" then
    check_enum(node, k, ksegs, ctx)
  elseif node.kind == "ident" then
    if not k:match("^[%a_][%w_]*$") then
      ctx.err(ksegs, (node.what or "name") .. " must be an identifier (letters, digits,"
        .. " underscore)")
    end
  end
end

local function check_record(node, v, segs, ctx)
  if type(v) ~= "table" then return type_error(ctx, segs, "table", v) end
  local known = node.keys
  local names
  for _, k in ipairs(sorted_keys(v)) do
    local ksegs = push(segs, k)
    local child = known[k]
    if child then
      walk(child, v[k], ksegs, ctx, v)
    elseif not node.open then
      if type(k) ~= "string" then
        if not names then names = sorted_keys(known) end
        ctx.err(ksegs, "unexpected list entry (expected named keys: " .. join(names) .. ")")
      else
        if not names then names = sorted_keys(known) end
        local s = M.suggest(k, names)
        if s then
          ctx.err(ksegs, "unknown key (did you mean '" .. s .. "'?)")
        else
          ctx.err(ksegs, "unknown key (known keys: " .. join(names) .. ")")
        end
      end
    end
  end
  for _, r in ipairs(node.required or {}) do
    if v[r] == nil then ctx.err(push(segs, r), "required key is missing") end
  end
  if node.exactly_one then
    local present = {}
    for _, k in ipairs(node.exactly_one) do
      if v[k] ~= nil then present[#present + 1] = k end
    end
    if #present == 0 then
      ctx.err(segs, "needs exactly one of " .. join(node.exactly_one))
    elseif #present > 1 then
      local q = {}
      for i, k in ipairs(present) do q[i] = "'" .. k .. "'" end
      ctx.err(segs, or_list(q):gsub(" or ", " and ") .. " cannot be used together (use exactly"
        .. " one of " .. join(node.exactly_one) .. ")")
    end
  end
  local rw = node.requires_when
  if rw then
    local sel = v[rw.on]
    local needs = type(sel) == "string" and rw.cases[sel]
    if needs then
      for _, need in ipairs(needs) do
        if type(need) == "table" then -- any of these
          local any = false
          for _, k in ipairs(need) do if v[k] ~= nil then any = true end end
          if not any then
            ctx.err(push(segs, need[1]), "required when " .. rw.on .. " is " .. repr(sel)
              .. (#need > 1 and (" (or give " .. or_list(
                { unpack(need, 2) }) .. ")") or ""))
          end
        elseif v[need] == nil then
          ctx.err(push(segs, need), "required when " .. rw.on .. " is " .. repr(sel))
        end
      end
    end
  end
  if node.check then node.check(v, segs, ctx) end
end

local function check_map(node, v, segs, ctx)
  if type(v) ~= "table" then return type_error(ctx, segs, "table", v) end
  local n = 0
  for _, k in ipairs(sorted_keys(v)) do
    n = n + 1
    local ksegs = push(segs, k)
    local hint = node.hint_keys and type(k) == "string" and node.hint_keys[k]
    if hint then
      ctx.err(ksegs, "unexpected key " .. repr(k) .. ": " .. hint)
    else
      check_key(node.key, k, ksegs, ctx, node.what and (node.what .. "s"))
      walk(node.value, v[k], ksegs, ctx, v)
    end
  end
  if node.min and n < node.min then
    ctx.err(segs, node.empty_msg or ("needs at least " .. node.min .. " entr"
      .. (node.min == 1 and "y" or "ies")))
  end
end

local function check_list(node, v, segs, ctx)
  if type(v) ~= "table" then
    return ctx.err(segs, "expected a list, got " .. type(v))
  end
  local sh = shape(v)
  if sh == "record" or sh == "mixed" then
    return ctx.err(segs, "expected a list, got a table with named keys (wrap the entry in"
      .. " { ... })")
  end
  for _, k in ipairs(sorted_keys(v)) do
    walk(node.item, v[k], push(segs, k), ctx, v)
  end
  if node.min and sh == "empty" then
    ctx.err(segs, "needs at least " .. node.min .. " entr" .. (node.min == 1 and "y" or "ies"))
  end
end

local function check_value(v, segs, ctx)
  if type(v) ~= "table" then
    return ctx.err(segs, VALUE_HINT .. ", got " .. type(v))
  end
  for _, k in ipairs(LEAF_KEYS) do
    if v[k] ~= nil then return check_record(LEAF, v, segs, ctx) end
  end
  local sh = shape(v)
  if sh == "empty" then
    return ctx.err(segs, "empty table: " .. VALUE_HINT .. " (a constant empty table is"
      .. " { value = {} })")
  end
  if sh == "mixed" then
    ctx.err(segs, "a table of values is either a list or named fields, not both")
  end
  if sh == "record" and (v.condition ~= nil or v.default ~= nil)
    and type(v.condition) ~= "table" and type(v.default) ~= "table" then
    -- a leaf missing its source: { condition = "...", default = 0 }
    return ctx.err(segs, "needs exactly one of " .. join(LEAF_KEYS))
  end
  -- no entry is a table: probably a leaf with a misspelled key ({ sorce = "..." })
  local leaf_like = true
  for _, e in pairs(v) do
    if type(e) == "table" then leaf_like = false end
  end
  for _, k in ipairs(sorted_keys(v)) do
    local e = v[k]
    local ksegs = push(segs, k)
    local s = leaf_like and type(k) == "string" and M.suggest(k, LEAF_ALL_KEYS)
    if s and s ~= k then
      ctx.err(ksegs, "unknown key (did you mean '" .. s .. "'?)")
    else
      check_value(e, ksegs, ctx)
    end
  end
end

walk = function(node, v, segs, ctx, parent)
  local kind = node.kind
  if kind == "string" then
    if type(v) ~= "string" then type_error(ctx, segs, "string", v) end
  elseif kind == "number" then
    check_number(node, v, segs, ctx)
  elseif kind == "boolean" then
    if type(v) ~= "boolean" then type_error(ctx, segs, "boolean", v) end
  elseif kind == "func" then
    if type(v) ~= "function" then type_error(ctx, segs, "function", v) end
  elseif kind == "table" then
    if type(v) ~= "table" then type_error(ctx, segs, "table", v) end
  elseif kind == "any" then
    return
  elseif kind == "const" then
    if type(v) == "function" then ctx.err(segs, "expected a constant, got function") end
  elseif kind == "enum" then
    check_enum(node, v, segs, ctx)
  elseif kind == "ident" then
    if type(v) ~= "string" then return type_error(ctx, segs, "string", v) end
    check_key(node, v, segs, ctx)
  elseif kind == "by_type" then
    local child = node.types[type(v)]
    if child then
      walk(child, v, segs, ctx, parent)
    else
      type_error(ctx, segs, or_list(node.order), v)
    end
  elseif kind == "record" then
    check_record(node, v, segs, ctx)
  elseif kind == "map" then
    check_map(node, v, segs, ctx)
  elseif kind == "list" then
    check_list(node, v, segs, ctx)
  elseif kind == "depends" then
    local sel = type(parent) == "table" and parent[node.on]
    if sel == nil then sel = node.default end
    walk(node.cases[sel] or node.otherwise, v, segs, ctx, parent)
  elseif kind == "regname" then
    if v == "" then return ctx.err(segs, "empty function name") end
    local reg = ctx.registry
    if reg and reg[v] == nil then
      ctx.err(segs, "registry has no function " .. repr(v) .. did_you_mean(v, ctx.reg_names))
    end
  elseif kind == "value" then
    check_value(v, segs, ctx)
  elseif kind == "one_or_list" then
    if type(v) == "table" and rawget(v, 1) ~= nil then
      walk(node.list, v, segs, ctx, parent)
    else
      walk(node.item, v, segs, ctx, parent)
    end
  else
    error("feedhost.spec.schema: unknown node kind " .. tostring(kind))
  end
end

---------------------------------------------------------------------------------------------
-- public API

local function seg_less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = a[i], b[i]
    if x ~= y then
      local tx, ty = type(x), type(y)
      if tx ~= ty then return tx < ty end -- numbers (list indices) before names
      if tx == "number" or tx == "string" then return x < y end
      return tostring(x) < tostring(y)
    end
  end
  return #a < #b
end

--- Checks a spec against the schema. Returns every error found (empty list: valid), sorted by
--- path (list indices numerically), each `{path = "a.b[2].c", msg = "...", file = file}`.
---@param spec any
---@param file string|nil
---@return {path: string, msg: string, file: string|nil}[]
function M.validate(spec, file)
  local raw = {}
  local ctx = {
    err = function(segs, msg) raw[#raw + 1] = { segs = segs, msg = msg } end,
  }
  if type(spec) ~= "table" then
    return { { path = "(spec)", msg = "a spec must be a table, got " .. type(spec), file = file } }
  end
  if type(spec.registry) == "table" then
    ctx.registry = spec.registry
    local names = {}
    for _, k in ipairs(sorted_keys(spec.registry)) do
      if type(k) == "string" then names[#names + 1] = k end
    end
    ctx.reg_names = names
  end
  walk(M.SCHEMA, spec, {}, ctx, nil)
  table.sort(raw, function(a, b)
    if seg_less(a.segs, b.segs) then return true end
    if seg_less(b.segs, a.segs) then return false end
    return a.msg < b.msg
  end)
  local out, last = {}, nil
  for _, e in ipairs(raw) do
    local path = M.format_path(e.segs)
    local key = path .. "\0" .. e.msg
    if key ~= last then
      out[#out + 1] = { path = path, msg = e.msg, file = file }
      last = key
    end
  end
  return out
end

--- One line per error: `FILE: PATH: MSG` (no trailing newline).
---@param errors {path: string, msg: string}[]
---@param file string|nil
---@return string
function M.format_errors(errors, file)
  local lines = {}
  for i, e in ipairs(errors) do
    lines[i] = (file or e.file or "spec") .. ": " .. e.path .. ": " .. e.msg
  end
  return table.concat(lines, "\n")
end

return M
