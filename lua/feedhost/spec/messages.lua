--- feedhost.spec.messages: outbound messages (auth first message, subscribe, unsubscribe, heartbeat).
--
-- Each message of a spec is compiled once into a function of a context table; rendering it
-- gives a list of frames: `{ text = "..." }`, `{ binary = "..." }` or `{ http = {...} }`,
-- carrying `event`/`namespace` for Socket.IO and `topics` for MQTT/ZeroMQ. A message with a
-- `condition` that does not hold renders no frame (for that asset, when rendered per asset).
local codegen = require("feedhost.spec.codegen")
local expr = require("feedhost.spec.expr")
local json = require("feedhost.util.json")

local M = {}

local PROLOGUE = "local credentials, broker, connection_name, subscribe_assets, channel, asset, mappings, state = "
  .. "ctx.credentials, ctx.broker, ctx.connection_name, ctx.subscribe_assets, ctx.channel, ctx.asset, ctx.mappings,"
  .. " ctx.state\n"

local HEADER = [[
local _K, _H, _ARR = ...
local num, int, str, ts, now, map, filter, split, json = _H.num, _H.int, _H.str, _H.ts, _H.now, _H.map, _H.filter, _H.split, _H.json
local setmetatable, type, pcall = setmetatable, type, pcall]]

local function new_gen(location, registry)
  return codegen.new({ location = location, registry = registry, params = "ctx", prologue = PROLOGUE,
    ctx = "ctx", tape = false })
end

local function load_gen(g, helpers, what)
  local src = g:source(HEADER)
  local env = require("feedhost.spec.sandbox").expr_env(g.opts.registry)
  env.setmetatable = setmetatable
  local chunk, err = load(src, "=" .. what, "t", env)
  if not chunk then
    error("feedhost: generated code for " .. what .. " does not compile: " .. err .. "\n" .. src)
  end
  return chunk(g.consts, helpers, json.array_mt)
end

-- compiles a value (or fields table) into `function(ctx) -> value`; records errors in g
local function value_fn(g, v, path, fields)
  g:emit("return function(ctx)\n" .. PROLOGUE, path)
  if fields then
    g:build("body", v, path)
    g:emit("return body", path)
  else
    g:emit("local body", path)
    g:store("body", v, path)
    g:emit("return body", path)
  end
  g:emit("end", path)
end

local function uses_name(src, name)
  local toks = expr.lex(src)
  for _, t in ipairs(toks or {}) do
    if t.t == "name" and t.v == name then
      return true
    end
  end
  return false
end

-- does a value tree mention `asset` in any expression string?
local function mentions_asset(v)
  if type(v) ~= "table" then
    return false
  end
  if type(v.source) == "string" and uses_name(v.source, "asset") then
    return true
  end
  if type(v.condition) == "string" and uses_name(v.condition, "asset") then
    return true
  end
  for k, x in pairs(v) do
    if k ~= "source" and k ~= "condition" and type(x) == "table" and mentions_asset(x) then
      return true
    end
  end
  return false
end

--- Renders `{name}` placeholders (`{{` and `}}` escape braces), read from left to right: in
-- `{{"id":{id}}}` the placeholder ends at its first `}`. @return text or nil, error
function M.template(text, values)
  local out, i = {}, 1
  while i <= #text do
    local j = text:find("[{}]", i) or #text + 1
    out[#out + 1] = text:sub(i, j - 1)
    local pair, name = text:sub(j, j + 1), text:match("^{([%w_]+)}", j)
    if pair == "{{" or pair == "}}" then
      out[#out + 1], i = pair:sub(1, 1), j + 2
    elseif name then
      local v = values[name]
      if v == nil then
        return nil, "no value for placeholder {" .. name .. "}"
      end
      out[#out + 1], i = type(v) == "number" and json.encode_number(v) or tostring(v), j + #name + 2
    else
      out[#out + 1], i = text:sub(j, j), j + 1   -- a lone brace stays
    end
  end
  return table.concat(out)
end

-- The value that gives the topics of a message for a backend with topics (MQTT, ZeroMQ):
-- `topics`, else a `custom` builder, else (as the seed writes it) a json body that is one value
-- (`json = { custom = "builder" }`); the second result is true when that value stands for the
-- body, which is then not sent as text.
local function topics_value(msg, backend)
  if msg.topics ~= nil or (backend ~= "mqtt" and backend ~= "zmq") then
    return msg.topics, false
  end
  if msg.custom ~= nil and msg.format ~= "binary" and msg.json == nil then
    return { custom = msg.custom }, true
  end
  if msg.format == "json" and codegen.is_value(msg.json) then
    return msg.json, true
  end
  return nil, false
end

--- Compiles message spec `msg` at `path`. `location`: "auth" or "subscribe" (context names);
-- `backend`: the connection's backend type (MQTT and ZeroMQ messages give topics).
-- @return render(ctx) -> list of frames, or nil + errors (list of {path, msg})
function M.compile(msg, path, opts)
  local registry = opts.registry or {}
  local helpers = opts.helpers
  local location = opts.location or "subscribe"
  local context = location == "auth" and "auth" or "token"
  local g = new_gen(context, registry)
  local topics, topics_only = topics_value(msg, opts.backend)
  local format = topics_only and "topics" or msg.format
  local body_fn, tokens_fn, encoder, topics_fn, headers_fn
  local per_asset = false
  if format == "json" and msg.json ~= nil then
    local j = msg.json
    local is_fields = type(j) == "table" and j.fields ~= nil and not codegen.is_value(j)
    value_fn(g, is_fields and j.fields or j, path .. (is_fields and ".json.fields" or ".json"), is_fields)
  elseif format == "text" then
    if msg.tokens and msg.tokens.fields then
      per_asset = mentions_asset(msg.tokens.fields)
      value_fn(g, msg.tokens.fields, path .. ".tokens.fields", true)
    else
      g:emit("return function(ctx) return {} end", path)
    end
  elseif format == "http" then
    if msg.json ~= nil then
      local j = msg.json
      local is_fields = type(j) == "table" and j.fields ~= nil and not codegen.is_value(j)
      value_fn(g, is_fields and j.fields or j, path .. ".json", is_fields)
    else
      g:emit("return function(ctx) return nil end", path)
    end
  else
    g:emit("return function(ctx) return nil end", path)
  end
  local condition_fn
  if msg.condition ~= nil then
    local cg = new_gen(context, registry)   -- true, or left out (nil) when it does not hold
    value_fn(cg, { value = true, condition = msg.condition }, path, false)
    if #cg.errors > 0 then
      return nil, cg.errors
    end
    condition_fn = load_gen(cg, helpers, path .. ".condition")
  end
  if topics ~= nil then
    local tg = new_gen("subscribe", registry)
    value_fn(tg, topics, path .. (msg.topics ~= nil and ".topics" or msg.json ~= nil and ".json"
      or ".custom"), false)
    if #tg.errors > 0 then
      return nil, tg.errors
    end
    topics_fn = load_gen(tg, helpers, path .. ".topics")
  end
  if msg.headers and msg.headers.fields then
    local hg = new_gen("auth", registry)
    value_fn(hg, msg.headers.fields, path .. ".headers.fields", true)
    if #hg.errors > 0 then
      return nil, hg.errors
    end
    headers_fn = load_gen(hg, helpers, path .. ".headers")
  end
  if format == "binary" or (msg.custom ~= nil and format ~= "json" and format ~= "topics") then
    local ref = msg.encoder or msg.custom
    encoder = type(ref) == "function" and ref or registry[ref]
    if type(encoder) ~= "function" then
      g:error(path .. (msg.encoder and ".encoder" or ".custom"), "registry has no function '" .. tostring(ref) .. "'")
    end
  end
  if #g.errors > 0 then
    return nil, g.errors
  end
  body_fn = load_gen(g, helpers, path)
  tokens_fn = format == "text" and body_fn or nil

  -- the frame of the message in `ctx`, or nil when its condition does not hold
  local function one(ctx)
    if condition_fn and not condition_fn(ctx) then
      return nil
    end
    local frame = { event = msg.event, namespace = msg.namespace, format = format }
    if format == "json" then
      if msg.json ~= nil then
        frame.text = json.encode(body_fn(ctx), { order = msg.order })
      elseif msg.custom ~= nil and encoder then
        frame.text = json.encode(encoder(ctx), { order = msg.order })
      end
    elseif format == "text" then
      local text, err = M.template(msg.text, tokens_fn(ctx))
      if not text then
        error(path .. ".text: " .. err, 0)
      end
      frame.text = text
    elseif format == "binary" then
      local b = encoder(ctx)
      if type(b) ~= "string" then
        error(path .. ".encoder: expected a string, got " .. type(b), 0)
      end
      frame.binary = b
    elseif format == "http" then
      local url, err = M.template(msg.url, setmetatable({}, { __index = function(_, k)
        return (ctx.credentials or {})[k] or ctx[k]
      end }))
      if not url then
        error(path .. ".url: " .. err, 0)
      end
      local body = body_fn(ctx)
      frame.http = { method = msg.method or (body ~= nil and "POST" or "GET"), url = url,
        headers = headers_fn and headers_fn(ctx) or {}, body = body ~= nil and json.encode(body, { order = msg.order }) or nil }
    end
    if topics_fn then
      frame.topics = topics_fn(ctx)
    end
    if headers_fn and format ~= "http" then
      frame.headers = headers_fn(ctx)
    end
    return frame
  end

  return function(ctx)
    if per_asset then
      local frames = {}
      for _, a in ipairs(ctx.subscribe_assets or {}) do
        local c = setmetatable({ asset = a }, { __index = ctx })
        frames[#frames + 1] = one(c)
      end
      return frames
    end
    return { one(ctx) }   -- {} when the condition does not hold
  end
end

--- Percent-encodes a query component (RFC 3986 unreserved characters stay).
function M.escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

--- `url` with `params` (list of {name, value}) appended as a query string.
function M.with_query(url, params)
  if #params == 0 then
    return url
  end
  local parts = {}
  for _, p in ipairs(params) do
    parts[#parts + 1] = M.escape(p[1]) .. "=" .. M.escape(p[2])
  end
  local sep = url:find("?", 1, true) and (url:match("[?&]$") and "" or "&") or "?"
  return url .. sep .. table.concat(parts, "&")
end

--- Compiles a `{fields = {...}}` table of values (auth headers, url query) into
-- function(ctx) -> list of {name, value} sorted by name.
function M.compile_fields(fields, path, opts)
  local g = new_gen("auth", opts.registry or {})
  value_fn(g, fields, path, true)
  if #g.errors > 0 then
    return nil, g.errors
  end
  local fn = load_gen(g, opts.helpers, path)
  return function(ctx)
    local t = fn(ctx)
    local list = {}
    for k, v in pairs(t) do
      if type(v) == "number" then
        v = json.encode_number(v)
      end
      list[#list + 1] = { k, tostring(v) }
    end
    table.sort(list, function(a, b) return a[1] < b[1] end)
    return list
  end
end

return M
