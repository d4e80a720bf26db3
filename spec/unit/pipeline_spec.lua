-- feedhost.spec.pipeline (through feedhost.spec.compile): small inline specs, frames in, records and
-- counters out.
local ffi = require("ffi")
local cffi = require("feedhost.sys.ffi")
local schema = require("feedhost.spec.schema")
local specmod = require("feedhost.spec")
local record = require("feedhost.data.record")
local json = require("feedhost.util.json")
local logmod = require("feedhost.util.log")

local TS0 = 1700000000000000000LL

-- Compiles a one-connection spec (connection `c`) and returns a harness:
-- h.feed(frame, ...) runs the frames as one batch (a string is a text frame; a table
-- {text=|binary=, ts=} sets the kind and the receive time); h.out the records; h.stats;
-- h.lines() the records as NDJSON.
-- `top`: other top-level spec keys (registry, mappings, master_data); `opts`: credentials, log.
local function build(conn, top, opts)
  top, opts = top or {}, opts or {}
  conn.url = conn.url or "wss://feed.example/ws"
  local spec = { name = "t", streaming = { connections = { c = conn } } }
  for k, v in pairs(top) do
    spec[k] = v
  end
  local errs = schema.validate(spec, "t.lua")
  assert(#errs == 0, schema.format_errors(errs, "t.lua"))
  local out = {}
  local compiled, cerrs = specmod.compile({ file = "t.lua", dir = ".", spec = spec }, {
    credentials = opts.credentials or {},
    emit = function(r) out[#out + 1] = r end,
    log = opts.log,
  })
  assert(compiled, cerrs and specmod.format_errors(cerrs, "t.lua"))
  local p = compiled.connections.c.pipeline
  local h = { out = out, stats = p.stats, pipeline = p, compiled = compiled }
  -- h.auth: the connection's auth state handed to run (see feed)
  function h.feed(...)
    local frames = { ... }
    local b = cffi.batch(65536, #frames + 1)
    for _, f in ipairs(frames) do
      local kind, s, ts = cffi.C.FH_FRAME_TEXT, f, TS0
      local meta = ""
      if type(f) == "table" then
        s = f.text or f.binary
        kind = f.binary and cffi.C.FH_FRAME_BINARY or cffi.C.FH_FRAME_TEXT
        ts = f.ts or TS0
        meta = f.topic or ""
      end
      assert(cffi.api.batch_push_meta(b, 1, kind, ts, meta, #meta, s, #s) == 0)
    end
    p.run(b, h.auth)
    return out
  end
  function h.lines()
    local t = {}
    for i, r in ipairs(out) do
      t[i] = record.ndjson(r, r.channel, r.connection)
    end
    return t
  end
  return h
end

-- one converter on channel `ch` (default data) with `fields`
local function simple(fields, extra, ch)
  ch = ch or "data"
  local conn = { streams = { ch }, converters = { [ch] = { { fields = fields } } } }
  for k, v in pairs(extra or {}) do
    conn[k] = v
  end
  return conn
end

describe("pipeline values", function()
  it("leaves the spec's own text alone: words the generator uses inside (SPLIT, TOPIC_SET,"
    .. " RECEIVED_AT) in a match and a source", function()
    local h = build(simple({ kind = { source = "data.SPLIT .. ':TOPIC_SET:RECEIVED_AT'" } },
      { router = { rules = { { channel = "data", match = 'data.ev == "SPLIT"' } } } }))
    h.feed('{"ev":"SPLIT","SPLIT":"2:1"}', '{"ev":"other","SPLIT":"x"}')
    assert.are.same({ '{"channel":"data","connection":"c","kind":"2:1:TOPIC_SET:RECEIVED_AT"}' },
      h.lines())
  end)

  it("evaluates a source expression over the frame", function()
    local h = build(simple({ price = { source = "num(data.p) * 2" }, sym = { source = "data.s" } }))
    h.feed('{"p":"1.25","s":"AAPL"}')
    assert.are.same({ '{"channel":"data","connection":"c","price":2.5,"sym":"AAPL"}' }, h.lines())
  end)

  it("calls a source function with the context (data materialized, channel, connection_name)", function()
    local seen
    local h = build(simple({ v = { source = function(ctx)
      seen = ctx
      return ctx.data.a.b + 1
    end } }))
    h.feed('{"a":{"b":41}}')
    assert.are.equal(42, h.out[1].v)
    assert.are.same({ a = { b = 41 } }, seen.data)
    assert.are.equal("data", seen.channel)
    assert.are.equal("c", seen.connection_name)
    assert.is_table(seen.broker)
  end)

  it("uses a constant value", function()
    local h = build(simple({ k = { value = "const" }, n = { value = 7 }, b = { value = false } }))
    h.feed('{}')
    assert.are.equal("const", h.out[1].k)
    assert.are.equal(7, h.out[1].n)
    assert.are.equal(false, h.out[1].b)
  end)

  it("calls a custom registry function with the context", function()
    local h = build(simple({ v = { custom = "triple" } }),
      { registry = { triple = function(ctx) return ctx.data.x * 3 end } })
    h.feed('{"x":5}')
    assert.are.equal(15, h.out[1].v)
  end)

  it("leaves a field out when its condition is false, keeps it when true", function()
    local h = build(simple({
      e = { source = "data.e", condition = "data.f == true" },
      g = { source = "data.e", condition = function(ctx) return ctx.data.f == false end },
    }))
    h.feed('{"e":1,"f":true}', '{"e":2,"f":false}')
    assert.are.same({ '{"channel":"data","connection":"c","e":1}', '{"channel":"data","connection":"c","g":2}' },
      h.lines())
  end)

  it("uses the default when the source errors or yields nil, without counting an error", function()
    local h = build(simple({
      f = { source = "num(data.x)", default = -1 },
      g = { source = "data.nothing", default = "dflt" },
    }))
    h.feed('{"x":"abc"}', '{"x":"3.5"}')
    assert.are.equal(-1, h.out[1].f)
    assert.are.equal("dflt", h.out[1].g)
    assert.are.equal(3.5, h.out[2].f)
    assert.are.equal(0, h.stats.errors)
  end)

  it("a condition and a default together: false leaves out, true falls back to the default", function()
    local h = build(simple({ f = { source = "num(data.x)", default = 0, condition = "data.on" } }))
    h.feed('{"x":"bad","on":true}', '{"x":"bad","on":false}')
    assert.are.equal(0, h.out[1].f)
    assert.is_nil(h.out[2].f)
  end)

  it("nests tables of values", function()
    local h = build(simple({ data = { price = { source = "num(data.p)" }, meta = { k = { value = "v" } } } }))
    h.feed('{"p":3}')
    assert.are.same({ price = 3, meta = { k = "v" } }, h.out[1].data)
  end)

  it("nests tables whose members carry conditions and defaults", function()
    local h = build(simple({ n = { a = { source = "data.a", condition = "data.a ~= nil" },
      b = { source = "num(data.b)", default = 9 } } }))
    h.feed('{"b":"x"}', '{"a":1,"b":2}')
    assert.are.same({ b = 9 }, h.out[1].n)
    assert.are.same({ a = 1, b = 2 }, h.out[2].n)
  end)

  it("makes a list from an array of values, written as a JSON array", function()
    local h = build(simple({ l = { { source = "data.a" }, { value = 2 }, { source = "data.c" } } }))
    h.feed('{"a":"x","c":true}')
    assert.are.same({ "x", 2, true }, h.out[1].l)
    assert.are.equal('{"channel":"data","connection":"c","l":["x",2,true]}', h.lines()[1])
  end)

  it("a list with a conditional member leaves it out", function()
    local h = build(simple({ l = { { value = 1 }, { value = 2, condition = "data.two" }, { value = 3 } } }))
    h.feed('{"two":false}', '{"two":true}')
    assert.are.same({ 1, 3 }, h.out[1].l)
    assert.are.same({ 1, 2, 3 }, h.out[2].l)
  end)

  it("reads bracketed keys and array elements", function()
    local h = build(simple({ a = { source = 'data["x-y"]' }, b = { source = "data.l[2].T" } }))
    h.feed('{"x-y":5,"l":[{"T":"a"},{"T":"b"}]}')
    assert.are.equal(5, h.out[1].a)
    assert.are.equal("b", h.out[1].b)
  end)

  it("unescapes JSON strings", function()
    local h = build(simple({ s = { source = "data.s" } }))
    h.feed('{"s":"caf\\u00e9 \\"q\\" \\n"}', '{"s":"BRK\\/B"}', '{"s":"\\ud83d\\ude00"}')
    assert.are.equal('caf\195\169 "q" \n', h.out[1].s)
    assert.are.equal("BRK/B", h.out[2].s)
    assert.are.equal("\240\159\152\128", h.out[3].s)   -- a surrogate pair at the end: U+1F600
  end)

  it("an expression using data whole, or rebinding data, sees the decoded message", function()
    local h = build(simple({
      n = { source = "#data.l" },
      keys = { source = "(function() local n = 0 for _ in pairs(data) do n = n + 1 end return n end)()" },
      m = { source = "map(data.l, function(data) return data * 10 end)" },
    }))
    h.feed('{"l":[1,2,3],"z":null}')
    assert.are.equal(3, h.out[1].n)
    assert.are.equal(1, h.out[1].keys) -- the null member is absent
    assert.are.same({ 10, 20, 30 }, h.out[1].m)
  end)
end)

describe("pipeline JSON null", function()
  it("reads as nil: defaults apply, type is nil, the member is absent from data", function()
    local h = build(simple({
      q = { source = "data.a", default = "D" },
      t = { source = "type(data.a)" },
      has = { source = "data.a ~= nil" },
      w = { source = function(ctx) return rawget(ctx.data, "a") == nil end },
    }))
    h.feed('{"a":null}')
    assert.are.same({ channel = "data", connection = "c", q = "D", t = "nil", has = false, w = true }, h.out[1])
  end)

  it("a null array element reads as nil", function()
    local h = build(simple({ q = { source = "data.a[2]", default = "D" }, r = { source = "data.a[3]" } }))
    h.feed('{"a":[1,null,3]}')
    assert.are.equal("D", h.out[1].q)
    assert.are.equal(3, h.out[1].r)
  end)

  it("indexing through a null member is an error, as through a missing one", function()
    local h = build(simple({ q = { source = "data.a.b" } }))
    h.feed('{"z":1}', '{"a":null}', '{"a":{"b":2}}')
    assert.are.same({ '{"channel":"data","connection":"c","q":2}' }, h.lines())
    assert.are.equal(2, h.stats.error_paths["converters.data[1].fields.q"])
  end)

  it("a payload_path selecting a null member counts the frame empty", function()
    local h = build(simple({ p = { source = "data.p" } }, { parser = { payload_path = "data.data" } }))
    h.feed('{"data":null}', '{"x":1}', '{"data":{"p":1}}')
    assert.are.same({ '{"channel":"data","connection":"c","p":1}' }, h.lines())
    assert.are.equal(2, h.stats.empty)
  end)
end)

describe("pipeline frame = array", function()
  it("converts each element alone; a bad one is counted with its key path", function()
    local h = build(simple({ p = { source = "num(data.p)" } }, { frame = "array" }))
    h.feed('[{"p":1},{"p":"bad"},{"p":3}]')
    assert.are.same({ 1, 3 }, { h.out[1].p, h.out[2].p })
    assert.are.equal(2, #h.out)
    assert.are.equal(1, h.stats.frames)
    assert.are.equal(1, h.stats.errors)
    assert.are.equal(1, h.stats.error_kinds.expression)
    assert.are.equal(1, h.stats.error_paths["converters.data[1].fields.p"])
  end)

  it("a non-array frame is converted as one message", function()
    local h = build(simple({ p = { source = "data.p" } }, { frame = "array" }))
    h.feed('{"p":7}', '[]')
    assert.are.equal(1, #h.out)
    assert.are.equal(7, h.out[1].p)
  end)

  it("names the nested field in the key path", function()
    local h = build(simple({ n = { inner = { source = "num(data.b)" }, c = { source = "data.c",
      condition = "data.c ~= nil" } } }, { frame = "array" }))
    h.feed('[{"b":"y"},{"b":2}]')
    assert.are.equal(1, #h.out)
    assert.are.equal(1, h.stats.error_paths["converters.data[1].fields.n.inner"])
  end)

  it("every element, the last one too, of a list from on_message, preprocess or a replaced frame", function()
    local function prices(h)
      local t = {}
      for i, r in ipairs(h.out) do
        t[i] = r.p
      end
      return t
    end
    -- on_message: a table (the message itself) or a string (the frame replaced, read as JSON)
    local h = build(simple({ p = { source = "data.p" } }, { frame = "array", hooks = { on_message = function(e)
      if e.message == "table" then
        return { { p = 1 }, { p = 2 }, { p = 3 } }
      end
      return '[{"p":4},{"p":5},{"p":6}]'
    end } }))
    h.feed("table", "text")
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, prices(h))
    -- preprocess returning the decoded list
    h = build(simple({ p = { source = "data.p" } }, { frame = "array", parser = { preprocess = function(s)
      local t = {}
      for d in s:gmatch("%d") do
        t[#t + 1] = { p = tonumber(d) }
      end
      return t
    end } }))
    h.feed("789")
    assert.are.same({ 7, 8, 9 }, prices(h))
    assert.are.equal(0, h.stats.errors)
  end)

  it("logs the error with the connection, kind, key path and a sample", function()
    local lines = {}
    local log = logmod.new({ level = "debug", sink = function(l) lines[#lines + 1] = l end })
    local h = build(simple({ p = { source = "num(data.p)" } }, { frame = "array" }), nil, { log = log })
    h.feed('[{"p":"bad"}]')
    assert.are.equal(1, #lines)
    assert.truthy(lines[1]:find("[c]", 1, true), lines[1])
    assert.truthy(lines[1]:find("expression", 1, true), lines[1])
    assert.truthy(lines[1]:find("converters.data[1].fields.p", 1, true), lines[1])
    assert.truthy(lines[1]:find('[{"p":"bad"}]', 1, true), lines[1])
  end)
end)

describe("pipeline router", function()
  local function conn(router)
    return {
      streams = { "data", "quote" },
      router = router,
      converters = {
        data = { { fields = { k = { value = "d" }, T = { source = "data.T" } } } },
        quote = { { fields = { k = { value = "q" }, T = { source = "data.T" } } } },
      },
    }
  end

  it("the first matching rule wins", function()
    local h = build(conn({ rules = {
      { channel = "data", match = "data.T == 't'" },
      { channel = "quote", match = "data.T == 't' or data.T == 'q'" },
    } }))
    h.feed('{"T":"t"}', '{"T":"q"}')
    assert.are.same({ "data", "quote" }, { h.out[1].channel, h.out[2].channel })
    assert.are.same({ "d", "q" }, { h.out[1].k, h.out[2].k })
  end)

  it("a match may be a function of the context", function()
    local h = build(conn({ rules = { { channel = "quote", match = function(ctx) return ctx.data.T == "x" end } },
      default_channel = "data" }))
    h.feed('{"T":"x"}', '{"T":"y"}')
    assert.are.same({ "quote", "data" }, { h.out[1].channel, h.out[2].channel })
  end)

  it("no match goes to default_channel", function()
    local h = build(conn({ rules = { { channel = "quote", match = "data.T == 'q'" } }, default_channel = "data" }))
    h.feed('{"T":"zzz"}')
    assert.are.equal("data", h.out[1].channel)
    assert.are.equal("zzz", h.out[1].T)
    assert.are.equal(0, h.stats.unrouted)
  end)

  it("no match and no default_channel is unknown: counted, no record", function()
    local h = build(conn({ rules = { { channel = "quote", match = "data.T == 'q'" } } }))
    h.feed('{"T":"zzz"}', '{"T":"q"}')
    assert.are.equal(1, #h.out)
    assert.are.equal(1, h.stats.unrouted)
    assert.are.equal(0, h.stats.errors)
  end)

  it("info and heartbeat channels make no record and are counted", function()
    local h = build(conn({ rules = {
      { channel = "info", match = "data.T == 'i'" },
      { channel = "heartbeat", match = "data.T == 'h'" },
    }, default_channel = "data" }))
    h.feed('{"T":"i"}', '{"T":"h"}', '{"T":"h"}', '{"T":"d"}')
    assert.are.equal(1, #h.out)
    assert.are.equal(1, h.stats.info)
    assert.are.equal(2, h.stats.heartbeats)
  end)

  it("a match that errors is counted at its key path and the frame skipped", function()
    local h = build(conn({ rules = { { channel = "quote", match = "data.a.b == 1" } }, default_channel = "data" }))
    h.feed('{"T":"x"}', '{"a":{"b":1}}')
    assert.are.equal(1, #h.out)
    assert.are.equal("quote", h.out[1].channel)
    assert.are.equal(1, h.stats.error_paths["router.rules[1].match"])
  end)
end)

describe("pipeline converters", function()
  it("the first rule whose condition holds converts", function()
    local h = build({ streams = { "data" }, converters = { data = {
      { condition = "data.k == 1", fields = { r = { value = 1 } } },
      { condition = "data.v ~= nil", fields = { r = { value = 2 } } },
      { fields = { r = { value = 3 } } },
    } } })
    h.feed('{"k":1,"v":1}', '{"k":2,"v":1}', '{"k":2}')
    assert.are.same({ 1, 2, 3 }, { h.out[1].r, h.out[2].r, h.out[3].r })
  end)

  it("no rule holding counts the message unconverted", function()
    local h = build({ streams = { "data" }, converters = { data = {
      { condition = "data.k == 1", fields = { r = { value = 1 } } } } } })
    h.feed('{"k":2}')
    assert.are.equal(0, #h.out)
    assert.are.equal(1, h.stats.unconverted)
  end)

  it("a custom converter builds the record; nil means no record", function()
    local h = build({ streams = { "data" }, converters = { data = { { custom = "conv" } } } },
      { registry = { conv = function(ctx)
        if ctx.data.skip then
          return nil
        end
        return { v = ctx.data.v * 10, ch = ctx.channel }
      end } })
    h.feed('{"v":1}', '{"skip":true}')
    assert.are.same({ '{"channel":"data","connection":"c","ch":"data","v":10}' }, h.lines())
    assert.are.equal(1, h.stats.unconverted)
  end)

  it("without a router, two streams: converters are tried in stream order", function()
    local h = build({ streams = { "quote", "data" }, converters = {
      data = { { condition = "data.p ~= nil", fields = { r = { value = "d" } } } },
      quote = { { condition = "data.b ~= nil", fields = { r = { value = "q" } } } },
    } })
    h.feed('{"p":1}', '{"b":1}', '{"b":1,"p":1}', '{"z":1}')
    assert.are.same({ "data", "quote", "quote" }, { h.out[1].channel, h.out[2].channel, h.out[3].channel })
    assert.are.equal(3, #h.out)
    assert.are.equal(1, h.stats.unconverted)
  end)

  it("without a router, one stream: every message goes to its converter", function()
    local h = build(simple({ r = { source = "data.x" } }, nil, "quote"))
    h.feed('{"x":1}', '{"x":2}')
    assert.are.same({ "quote", "quote" }, { h.out[1].channel, h.out[2].channel })
  end)
end)

describe("pipeline parser.payload_path", function()
  it("a selection reads the payload from inside the frame; absent counts empty", function()
    local h = build(simple({ p = { source = "data.p" } }, { parser = { payload_path = "data.data" } }))
    h.feed('{"data":{"p":1}}', '{"x":1}')
    assert.are.same({ '{"channel":"data","connection":"c","p":1}' }, h.lines())
    assert.are.equal(1, h.stats.empty)
  end)

  it("a selection with a fallback", function()
    local h = build(simple({ p = { source = "data.p" } }, { parser = { payload_path = "data.payload or data" } }))
    h.feed('{"payload":{"p":1}}', '{"p":2}')
    assert.are.same({ 1, 2 }, { h.out[1].p, h.out[2].p })
  end)

  it("a selection of an array with frame = array iterates it", function()
    local h = build(simple({ p = { source = "data.p" } }, { frame = "array",
      parser = { payload_path = "data.d" } }))
    h.feed('{"d":[{"p":1},{"p":2}]}')
    assert.are.same({ 1, 2 }, { h.out[1].p, h.out[2].p })
  end)

  it("a computed payload (json.decode of a member) is converted", function()
    local h = build(simple({ p = { source = "data.p" } }, { parser = { payload_path = "json.decode(data.body)" } }))
    h.feed('{"body":"{\\"p\\":5}"}', '{"body":"{bad"}', '{"body":"{\\"p\\":6}"}')
    assert.are.same({ 5, 6 }, { h.out[1].p, h.out[2].p })
    assert.are.equal(1, h.stats.errors)
    assert.are.equal(1, h.stats.error_paths["parser.payload_path"])
  end)

  it("a computed list payload with frame = array makes one record per element", function()
    local h = build(simple({ p = { source = "data.p" } }, { frame = "array",
      parser = { payload_path = "json.decode(data.body)" } }))
    h.feed('{"body":"[{\\"p\\":6},{\\"p\\":7}]"}')
    assert.are.same({ 6, 7 }, { h.out[1].p, h.out[2].p })
  end)

  it("applies to what decode, an on_message hook and a text parser give, as to a frame", function()
    local pp = { payload_path = "data.body" }
    -- decode (a text parser with a decode function)
    local h = build(simple({ p = { source = "data.p" } }, { parser = { format = "text", payload_path = "data.body",
      decode = function(s) return { body = { p = s } } end } }))
    h.feed("dec")
    -- an on_message hook returning the message as a table
    local h2 = build(simple({ p = { source = "data.p" } }, { parser = pp, hooks = { on_message = function()
      return { body = { p = "hook" } }
    end } }))
    h2.feed("anything")
    -- a text parser without decode: data is the text, payload_path an expression over it
    local h3 = build(simple({ p = { source = "data" } }, { parser = { format = "text",
      payload_path = "data:match('^body=(.*)$')" } }))
    h3.feed("body=text", "no body")
    assert.are.same({ "dec", "hook", "text" }, { h.out[1].p, h2.out[1].p, h3.out[1].p })
    assert.are.same({ 1, 1, 1 }, { #h.out, #h2.out, #h3.out })
    assert.are.equal(1, h3.stats.empty)
  end)

  it("a payload_path function selects the payload once", function()
    local h = build(simple({ p = { source = "data.p" } }, { parser = { payload_path = function(ctx)
      return ctx.data.d
    end } }))
    h.feed('{"d":{"p":8}}')
    assert.are.same({ '{"channel":"data","connection":"c","p":8}' }, h.lines())
  end)
end)

describe("pipeline hooks.on_message", function()
  local function conn()
    return simple({ p = { source = "data.p" } }, { hooks = { on_message = function(ev)
      if ev.message == "drop" then
        return false
      elseif ev.message == "tbl" then
        return { p = "from-table" }
      elseif ev.message:sub(1, 1) == "x" then
        return '{"p":"replaced"}'
      elseif ev.message == "boom" then
        error("hook failed")
      end
      return nil
    end } })
  end

  it("nil keeps the frame", function()
    local h = build(conn())
    h.feed('{"p":"orig"}')
    assert.are.equal("orig", h.out[1].p)
  end)

  it("a string replaces the frame", function()
    local h = build(conn())
    h.feed("xyz")
    assert.are.equal("replaced", h.out[1].p)
    assert.are.equal(0, h.stats.errors)
  end)

  it("a table is the message itself", function()
    local h = build(conn())
    h.feed("tbl")
    assert.are.equal("from-table", h.out[1].p)
  end)

  it("false drops the frame and counts it", function()
    local h = build(conn())
    h.feed("drop", '{"p":1}')
    assert.are.equal(1, #h.out)
    assert.are.equal(1, h.stats.dropped)
  end)

  it("a hook that throws is counted as kind hook and the next frame still converts", function()
    local h = build(conn())
    h.feed("boom", '{"p":2}')
    assert.are.equal(1, #h.out)
    assert.are.equal(1, h.stats.error_kinds.hook)
    assert.are.equal(1, h.stats.error_paths["hooks.on_message"])
  end)

  it("sees the raw text, credentials, connection name and received_at", function()
    local ev
    local h = build(simple({ p = { source = "data.p" } }, { hooks = { on_message = function(e) ev = e end } }),
      nil, { credentials = { api_key = "k" } })
    h.feed({ text = '{"p":1}', ts = 1732612501366641378LL })
    assert.are.equal('{"p":1}', ev.message)
    assert.are.equal("c", ev.connection_name)
    assert.are.equal("k", ev.credentials.api_key)
    assert.is_true(ev.received_at == 1732612501366641378LL)
  end)

  it("may name a registry function", function()
    local h = build(simple({ p = { source = "data.p" } }, { hooks = { on_message = "hk" } }),
      { registry = { hk = function(e) return '{"p":"reg"}' end } })
    h.feed("anything")
    assert.are.equal("reg", h.out[1].p)
  end)
end)

describe("pipeline parser.preprocess", function()
  it("rewrites the text before parsing; nil drops the frame", function()
    local h = build(simple({ p = { source = "data.p" } }, { parser = { preprocess = "pre" } }),
      { registry = { pre = function(s)
        if s == "skip" then
          return nil
        end
        return (s:gsub("^42", ""))
      end } })
    h.feed('42{"p":1}', "skip", '{"p":2}')
    assert.are.same({ 1, 2 }, { h.out[1].p, h.out[2].p })
    assert.are.equal(1, h.stats.dropped)
  end)

  it("may return the decoded message as a table", function()
    local h = build(simple({ p = { source = "data.p" } }, { parser = { preprocess = function(s)
      return { p = #s }
    end } }))
    h.feed("abcd")
    assert.are.equal(4, h.out[1].p)
  end)
end)

describe("pipeline parser formats", function()
  it("text with a decode function", function()
    local h = build(simple({ p = { source = "data.p" } }, { parser = { format = "text", decode = "dec" } }),
      { registry = { dec = function(s)
        local a, b = s:match("^(%w+)|(%w+)$")
        if not a then
          return nil, "bad text"
        end
        return { p = a .. b }
      end } })
    h.feed("ab|cd", "nope", "ef|gh")
    assert.are.same({ "abcd", "efgh" }, { h.out[1].p, h.out[2].p })
    assert.are.equal(1, h.stats.error_kinds.decode)
  end)

  it("text without decode: data is the text itself", function()
    local h = build(simple({ p = { source = "data:upper()" } }, { parser = { format = "text" } }))
    h.feed("hello")
    assert.are.equal("HELLO", h.out[1].p)
  end)

  describe("binary with a decode function", function()
    local function bconn()
      return simple({ p = { source = "data.p" } }, { parser = { format = "binary", decode = "bin" } })
    end
    local reg = { registry = { bin = function(p, len, ctx)
      if len == 0 then
        return nil
      end
      if p[0] == 0xff then
        return nil, "bad header"
      end
      if p[0] == 0xfe then
        return {}
      end
      if p[0] == 0xfd then
        return { p = "one" }
      end
      local out = {}
      for i = 0, len - 1 do
        out[#out + 1] = { p = p[i] }
      end
      return out
    end } }

    it("a list makes one record per element", function()
      local h = build(bconn(), reg)
      h.feed({ binary = "\1\2\3" })
      assert.are.same({ 1, 2, 3 }, { h.out[1].p, h.out[2].p, h.out[3].p })
    end)

    it("one table makes one record", function()
      local h = build(bconn(), reg)
      h.feed({ binary = "\253" })
      assert.are.same({ '{"channel":"data","connection":"c","p":"one"}' }, h.lines())
    end)

    it("nil is nothing: no record, no error", function()
      local h = build(bconn(), reg)
      h.feed({ binary = "" })
      assert.are.equal(0, #h.out)
      assert.are.equal(0, h.stats.errors)
      assert.are.equal(1, h.stats.empty)
    end)

    it("an empty list is nothing either", function()
      local h = build(bconn(), reg)
      h.feed({ binary = "\254" })
      assert.are.equal(0, #h.out)
      assert.are.equal(0, h.stats.errors)
      assert.are.equal(0, h.stats.unrouted)
      assert.are.equal(0, h.stats.unconverted)
    end)

    it("nil and an error is counted as kind decode; the next frame still decodes", function()
      local h = build(bconn(), reg)
      h.feed({ binary = "\255\1" }, { binary = "\7" })
      assert.are.equal(1, h.stats.error_kinds.decode)
      assert.are.equal(1, h.stats.error_paths["parser.decode"])
      assert.are.same({ '{"channel":"data","connection":"c","p":7}' }, h.lines())
    end)

    it("a decode function that throws is counted as kind decode", function()
      local h = build(simple({ p = { source = "data.p" } }, { parser = { format = "binary",
        decode = function() error("kaboom") end } }))
      h.feed({ binary = "\1" })
      assert.are.equal(1, h.stats.error_kinds.decode)
    end)

    it("text frames on a binary connection are read as JSON", function()
      local h = build(bconn(), reg)
      h.feed('{"p":"json-text"}')
      assert.are.equal("json-text", h.out[1].p)
    end)

    it("an error inside a decoded element is counted at the field's key path", function()
      local h = build(simple({ p = { source = "num(data.p)" } }, { parser = { format = "binary",
        decode = function() return { { p = 1 }, { p = "x" }, { p = 3 } } end } }))
      h.feed({ binary = "\0" })
      assert.are.equal(2, #h.out)
      assert.are.equal(1, h.stats.error_paths["converters.data[1].fields.p"])
    end)

    it("a decoded list's payload that is an empty JSON array gives no element (as frame ="
      .. " array does), a list of two gives two", function()
      local lists = { '[{"d":[]}]', '[{"d":[{"p":1},{"p":2}]}]' }
      local h = build(simple({ p = { source = "data.p" } }, { parser = { format = "binary",
        payload_path = "data[1].d",
        decode = function(p) return json.decode(lists[p[0]]) end } }))
      h.feed({ binary = "\1" }, { binary = "\2" })
      assert.are.same({ '{"channel":"data","connection":"c","p":1}',
        '{"channel":"data","connection":"c","p":2}' }, h.lines())
      assert.are.equal(0, h.stats.errors)
    end)
  end)
end)

describe("pipeline bad input", function()
  it("truncated JSON, wrong types and nulls are counted and the pipeline keeps going", function()
    local h = build(simple({ p = { source = "num(data.p)" }, q = { source = "data.a.b" } }))
    h.feed('{"p":1,"a":{"b":2}', -- truncated
      '{"p":[1],"a":{"b":2}}', -- wrong type
      '{"p":null,"a":{"b":3}}', -- null
      'not json at all',
      '{"p":"4","a":{"b":4}}')
    assert.are.same({ '{"channel":"data","connection":"c","p":4,"q":4}' }, h.lines())
    assert.are.equal(5, h.stats.frames)
    assert.are.equal(2, h.stats.error_kinds.parse)
    assert.are.equal(2, h.stats.error_kinds.expression)
    assert.are.equal(2, h.stats.error_paths["converters.data[1].fields.p"])
    assert.are.equal(4, h.stats.errors)
  end)

  it("an empty frame is a parse error", function()
    local h = build(simple({ p = { source = "data.p" } }))
    h.feed("", '{"p":1}')
    assert.are.equal(1, h.stats.error_kinds.parse)
    assert.are.equal(1, #h.out)
  end)
end)

describe("pipeline broker.infer_asset", function()
  local top = {
    master_data = {
      rows = {
        { tradingsymbol = "INFY", token = "408065", exch = "NSE" },
        { tradingsymbol = "RELIANCE", token = "738561", exch = "NSE" },
      },
      fields = { symbol = "tradingsymbol", security_id = "token", exchange = "exch" },
    },
  }

  it("finds assets of the master data by security_id or symbol; unknown is symbol_not_found", function()
    local h = build(simple({
      asset = { source = "data.id and broker.infer_asset{ security_id = data.id }"
        .. " or broker.infer_asset{ symbol = data.s }" },
      ex = { source = "broker.infer_asset{ symbol = data.s or 'INFY' }.exchange" },
    }, nil, "quote"), top)
    h.feed('{"id":408065}', '{"id":"738561"}', '{"s":"RELIANCE"}', '{"id":999}', '{"s":"NOPE"}')
    assert.are.equal(3, #h.out)
    assert.are.same({ "INFY", "RELIANCE", "RELIANCE" }, { h.out[1].asset.symbol, h.out[2].asset.symbol,
      h.out[3].asset.symbol })
    assert.are.equal("NSE", h.out[1].ex)
    assert.are.equal('{"channel":"quote","connection":"c","asset":"INFY","ex":"NSE"}', h.lines()[1])
    assert.are.equal(2, h.stats.error_kinds.symbol_not_found)
    assert.are.equal(2, h.stats.errors)
    assert.is_nil(h.stats.error_kinds.expression)
  end)

  it("the same Asset table for every lookup of one instrument", function()
    local h = build(simple({ asset = { source = "broker.infer_asset{ security_id = data.id }" } }), top)
    h.feed('{"id":408065}', '{"id":408065}')
    assert.are.equal(h.out[1].asset, h.out[2].asset)
  end)
end)

describe("pipeline mappings", function()
  local maps = { order_status = { map = { open = { "new", "accepted" }, complete = "filled",
    cancelled = { "canceled", "expired" } }, default = "open" } }

  it("maps list values and single values; an unknown value takes the default", function()
    local h = build(simple({ st = { source = "mappings.order_status(data.s)" } }, nil, "order"),
      { mappings = maps })
    h.feed('{"s":"new"}', '{"s":"accepted"}', '{"s":"filled"}', '{"s":"expired"}', '{"s":"weird"}')
    local got = {}
    for i, r in ipairs(h.out) do
      got[i] = r.st
    end
    assert.are.same({ "open", "open", "complete", "cancelled", "open" }, got)
    assert.are.equal(0, h.stats.errors)
  end)

  it("without a default an unknown value is an error at the field", function()
    local h = build(simple({ st = { source = "mappings.order_status(data.s)" } }, nil, "order"),
      { mappings = { order_status = { map = { open = { "new" }, complete = "filled" } } } })
    h.feed('{"s":"new"}', '{"s":"weird"}')
    assert.are.equal(1, #h.out)
    assert.are.equal(1, h.stats.error_paths["converters.order[1].fields.st"])
  end)
end)

describe("pipeline time", function()
  it("received_at is the frame's receive time, an exact int64", function()
    local h = build(simple({ r = { source = "received_at" } }))
    h.feed({ text = "{}", ts = 1732612501366641378LL })
    assert.is_true(ffi.istype("int64_t", h.out[1].r))
    assert.is_true(h.out[1].r == 1732612501366641378LL)
    assert.are.equal('{"channel":"data","connection":"c","r":1732612501366641378}', h.lines()[1])
  end)

  it("ts of an ISO time with a 9-digit fraction is exact", function()
    local h = build(simple({ timestamp = { source = "ts(data.t)" } }))
    h.feed('{"t":"2024-11-26T09:15:00.123456789Z"}', '{"t":"2024-11-26T09:15:00.123456789+05:30"}',
      '{"t":"2024-11-26T09:15:00.000000001Z"}')
    assert.is_true(ffi.istype("int64_t", h.out[1].timestamp))
    assert.is_true(h.out[1].timestamp == 1732612500123456789LL)
    assert.is_true(h.out[2].timestamp == 1732592700123456789LL)
    assert.is_true(h.out[3].timestamp == 1732612500000000001LL)
    assert.are.equal('{"channel":"data","connection":"c","timestamp":1732612500123456789}', h.lines()[1])
  end)

  it("ts of a numeric string of nanoseconds is exact", function()
    local h = build(simple({ timestamp = { source = "ts(data.t, 'ns')" } }))
    h.feed('{"t":"1732612501366641378"}')
    assert.is_true(h.out[1].timestamp == 1732612501366641378LL)
  end)

  it("ts of an escaped or odd string still works", function()
    local h = build(simple({ timestamp = { source = "ts(data.t)" } }))
    h.feed('{"t":"2024-11-26T09:15:00.5\\u005a"}', '{"t":1732612500123}')
    assert.is_true(h.out[1].timestamp == 1732612500500000000LL)
    assert.is_true(h.out[2].timestamp == 1732612500123000000LL)
  end)

  it("a bad time is an expression error at the field", function()
    local h = build(simple({ timestamp = { source = "ts(data.t)" } }))
    h.feed('{"t":"yesterday"}', '{}')
    assert.are.equal(0, #h.out)
    assert.are.equal(2, h.stats.error_paths["converters.data[1].fields.timestamp"])
  end)
end)

describe("pipeline records", function()
  it("carry channel and connection, and are counted per channel", function()
    local h = build({ streams = { "data", "quote" }, router = { rules = {
      { channel = "quote", match = "data.T == 'q'" } }, default_channel = "data" },
      converters = { data = { { fields = { x = { value = 1 } } } }, quote = { { fields = { x = { value = 2 } } } } } })
    h.feed('{"T":"q"}', '{"T":"t"}', '{"T":"q"}')
    for _, r in ipairs(h.out) do
      assert.are.equal("c", r.connection)
    end
    assert.are.same({ "quote", "data", "quote" }, { h.out[1].channel, h.out[2].channel, h.out[3].channel })
    assert.are.equal(3, h.stats.records)
    assert.are.same({ quote = 2, data = 1 }, h.stats.by_channel)
  end)

  it("credentials and connection_name are readable in expressions", function()
    local h = build(simple({ k = { source = "credentials.api_key .. '@' .. connection_name" } }), nil,
      { credentials = { api_key = "KEY" } })
    h.feed("{}")
    assert.are.equal("KEY@c", h.out[1].k)
  end)
end)

describe("pipeline large frames", function()
  it("a frame with more tokens than a million (under max_frame_bytes) parses whole", function()
    local h = build({ streams = { "data" }, converters = { data = { { fields = {
      n = { source = "#data.a" } } } } } })
    local parts = {}
    for i = 1, 1500000 do
      parts[i] = "0"
    end
    h.feed('{"a":[' .. table.concat(parts, ",") .. "]}")
    assert.are.equal(0, h.stats.errors)
    assert.are.equal(1500000, h.out[1].n)
  end)
end)

describe("pipeline topic", function()
  local conn = {
    streams = { "data", "quote" },
    router = { rules = { { channel = "quote", match = "topic == 'q/AAPL'" } }, default_channel = "data" },
    converters = {
      data = { { fields = { p = { source = "data.p" }, t = { source = "topic" } } } },
      quote = { { fields = { b = { source = "data.b" }, sym = { source = "split(topic, '/')[2]" } } } },
    },
  }

  it("routes and converts on the frame's topic (JSON fast path)", function()
    local h = build(conn)
    h.feed({ text = '{"b":1.5}', topic = "q/AAPL" }, { text = '{"p":2}', topic = "t/MSFT" }, '{"p":3}')
    assert.are.same({ "quote", "data", "data" }, { h.out[1].channel, h.out[2].channel, h.out[3].channel })
    assert.are.equal("AAPL", h.out[1].sym)
    assert.are.equal("t/MSFT", h.out[2].t)
    assert.is_nil(h.out[3].t)       -- no topic: nil
  end)

  it("is in the context of functions and hooks (general path)", function()
    local seen = {}
    local c2 = { streams = { "data" }, hooks = { on_message = function(ctx) seen[#seen + 1] = ctx.topic end },
      converters = { data = { { fields = { t = { source = function(ctx) return ctx.topic end } } } } } }
    local h = build(c2)
    h.feed({ text = '{"p":1}', topic = "a/b" }, { text = '{"p":2}', topic = "c" })
    assert.are.same({ "a/b", "c" }, seen)
    assert.are.same({ "a/b", "c" }, { h.out[1].t, h.out[2].t })
  end)
end)

describe("pipeline Socket.IO events", function()
  local function sio(extra)
    local conn = { url = "https://feed.example", backend = { type = "socketio" },
      streams = { "quote", "data" },
      converters = {
        quote = { { fields = { b = { source = "data[1]" }, e = { source = "event" } } } },
        data = { { fields = { p = { source = "data.p" } } } },
      } }
    for k, v in pairs(extra or {}) do
      conn[k] = v
    end
    return conn
  end

  it("without a router, routes each event to the channel of that name (`events`, default the"
    .. " channel's own), others to unknown", function()
    local h = build(sio({ events = { quote = "stock" } }))
    h.feed({ text = "[1.5]", topic = "stock" }, { text = '{"p":2}', topic = "data" },
      { text = '{"p":3}', topic = "order" }, '{"p":4}')
    assert.are.same({ "quote", "data" }, { h.out[1].channel, h.out[2].channel })
    assert.are.equal(1.5, h.out[1].b)
    assert.are.equal("stock", h.out[1].e)
    assert.are.equal(2, #h.out)
    assert.are.equal(2, h.stats.unrouted)
  end)

  it("with a router, `event` is in the rules' context", function()
    local h = build(sio({ router = { rules = {
      { channel = "data", match = "event == 'tick' and data.p ~= nil" },
      { channel = "quote", match = "event:match('^1501') ~= nil" },
    } } }))
    h.feed({ text = '{"p":2}', topic = "tick" }, { text = "[7]", topic = "1501-json-full" })
    assert.are.same({ "data", "quote" }, { h.out[1].channel, h.out[2].channel })
    assert.are.equal("1501-json-full", h.out[2].e)
  end)
end)

describe("pipeline auth ack / reject", function()
  it("reports ack or reject while waiting, then stops checking", function()
    local h = build(simple({ p = { source = "data.p" } }, { auth = {
      mode = "first_message",
      first_message = { format = "json", json = { fields = { k = { source = "credentials.api_key" } } } },
      ack = "data.status == 'ok'",
      reject = "data.status == 'denied'",
    } }), nil, { credentials = { api_key = "K" } })
    h.auth = { waiting = true }
    h.feed('{"status":"ok"}')
    assert.is_true(h.auth.acked)
    assert.is_nil(h.auth.rejected)
    assert.is_false(h.auth.waiting)
    h.feed('{"status":"denied"}')   -- no longer waiting: not checked
    assert.is_nil(h.auth.acked)
    assert.is_nil(h.auth.rejected)
    h.auth = { waiting = true }
    h.feed('{"status":"denied"}', '{"status":"ok"}')   -- the first that holds ends the wait
    assert.are.equal("denied", h.auth.rejected.status)
    assert.is_nil(h.auth.acked)
    assert.is_false(h.auth.waiting)
  end)

  it("without a connection's state nothing is checked", function()
    local h = build(simple({ p = { source = "data.p" } }, { auth = {
      mode = "first_message",
      first_message = { format = "json", json = { fields = { k = { value = 1 } } } },
      ack = "data.status == 'ok'",
    } }))
    h.feed('{"status":"ok","p":1}')
    assert.are.equal(1, h.out[1].p)
    assert.is_nil(h.auth)
  end)

  it("an ack expression that errors is counted at auth.ack and the frame still converts", function()
    local h = build(simple({ p = { source = "data.p" } }, { auth = {
      mode = "first_message",
      first_message = { format = "json", json = { fields = { k = { value = 1 } } } },
      ack = "data.data.status == 'ok'",
    } }))
    h.auth = { waiting = true }
    assert.has_no.errors(function() h.feed('{"p":1}', '{"p":2}') end)
    assert.are.same({ 1, 2 }, { h.out[1].p, h.out[2].p })
    assert.are.equal(2, h.stats.error_paths["auth.ack"])
    assert.is_true(h.auth.waiting)
  end)
end)

describe("pipeline record delivery", function()
  it("a raising record callback is counted as an application error; the records keep flowing", function()
    local loaded = { file = "t.lua", dir = ".", spec = { name = "t", streaming = { connections = { c = {
      url = "wss://feed.example/ws",
      streams = { "data" }, frame = "array",
      converters = { data = { { fields = { p = { source = "data.p" } } } } },
    } } } } }
    local got, lines = {}, {}
    local log = require("feedhost.util.log").new({ level = "debug", sink = function(l) lines[#lines + 1] = l end })
    local compiled = assert(specmod.compile(loaded, { log = log, emit = function(r)
      if r.p == 2 then
        error("application bug")
      end
      got[#got + 1] = r.p
    end }))
    local p = compiled.connections.c.pipeline
    local b = cffi.batch(4096, 4)
    local s = '[{"p":1},{"p":2},{"p":3}]'
    cffi.api.batch_push(b, 1, cffi.C.FH_FRAME_TEXT, TS0, s, #s)
    cffi.api.batch_push(b, 1, cffi.C.FH_FRAME_TEXT, TS0, '[{"p":4}]', 9)
    p.run(b)
    assert.are.same({ 1, 3, 4 }, got)
    assert.are.equal(1, p.stats.app_errors)
    assert.are.equal(0, p.stats.errors)       -- not a spec error
    assert.are.equal(4, p.stats.records)
    assert.matches("application bug", table.concat(lines, "\n"))
  end)
end)

describe("pipeline under the JIT", function()
  it("gives identical output for 10,000 frames", function()
    assert.is_true((jit.status()), "the JIT is off: this test would not exercise traces")
    local h = build({
      streams = { "data", "quote" },
      frame = "array",
      router = { rules = {
        { channel = "data", match = "data.T == 't'" },
        { channel = "quote", match = "data.T == 'q'" },
      } },
      converters = {
        data = { { fields = {
          asset = { source = "data.S" },
          timestamp = { source = "ts(data.t)" },
          data = { price = { source = "num(data.p)" }, volume = { source = "num(data.s)" } },
        } } },
        quote = { { fields = {
          asset = { source = "data.S" },
          timestamp = { source = "ts(data.t)" },
          bid = { source = "num(data.bp)" },
          ask = { source = "num(data.ap)", default = 0 },
          levels = { { source = "data.bp" }, { source = "data.ap" } },
          odd = { source = "data.x", condition = "data.x ~= nil" },
        } } },
      },
    })
    local frames = {
      '[{"T":"t","S":"AAPL","t":"2024-11-26T09:15:00.123456789Z","p":"189.5","s":100}]',
      '[{"T":"q","S":"MSFT","t":"2024-11-26T09:15:01.000000001Z","bp":411.25,"ap":"x"},'
        .. '{"T":"q","S":"AAPL","t":"2024-11-26T09:15:02Z","bp":189.49,"ap":189.51,"x":1}]',
      '[{"T":"s","S":"AAPL"}]',
      '[{"T":"t","S":"AAPL","t":"bad","p":"1","s":1}]',
    }
    h.feed(unpack(frames))
    local first = h.lines()
    assert.are.equal(3, #first)
    local per_round = #h.out
    local errors_per_round = h.stats.errors
    assert.are.equal(1, errors_per_round)
    -- 10,000 more frames, in batches of 200
    local rounds = 2500
    local b = cffi.batch(1048576, 256)
    for r = 1, rounds do
      for _, f in ipairs(frames) do
        cffi.api.batch_push(b, 1, cffi.C.FH_FRAME_TEXT, TS0, f, #f)
      end
      if b.n >= 200 or r == rounds then
        h.pipeline.run(b)
        cffi.api.batch_clear(b)
      end
    end
    assert.are.equal(per_round * (rounds + 1), #h.out)
    assert.are.equal(errors_per_round * (rounds + 1), h.stats.errors)
    assert.are.equal(4 * (rounds + 1), h.stats.frames)
    local all = h.lines()
    for i = 1, #all do
      local want = first[(i - 1) % per_round + 1]
      if all[i] ~= want then
        error(string.format("record %d differs:\n  got  %s\n  want %s", i, all[i], want))
      end
    end
  end)
end)

describe("pipeline batch loop (JSON over the tape)", function()
  it("skips each failing element and keeps going, across frames and parse errors of one batch", function()
    local h = build(simple({ p = { source = "num(data.p)" } }, { frame = "array" }))
    h.feed('[{"p":"bad"},{"p":1},{"p":"bad"}]', 'not json', '[{"p":2},{"p":"bad"}]', '[]',
      '[{"p":"bad"}]', '{"p":3}', '[{"p":4},{"p":5}]')
    local got = {}
    for i, r in ipairs(h.out) do
      got[i] = r.p
    end
    assert.are.same({ 1, 2, 3, 4, 5 }, got)
    assert.are.equal(7, h.stats.frames)
    assert.are.equal(4, h.stats.error_paths["converters.data[1].fields.p"])
    assert.are.equal(1, h.stats.error_kinds.parse)
    assert.are.equal(5, h.stats.errors)
    -- the next batch starts afresh
    h.feed('[{"p":6}]')
    assert.are.equal(6, h.out[6].p)
    assert.are.equal(5, h.stats.errors)
  end)

  it("an element after a failing one still sees its frame's receive time", function()
    local h = build(simple({ p = { source = "num(data.p)" }, r = { source = "received_at" } },
      { frame = "array" }))
    h.feed({ text = '[{"p":1}]', ts = 111LL }, { text = '[{"p":"bad"},{"p":2}]', ts = 222LL },
      { text = '[{"p":3}]', ts = 333LL })
    assert.are.equal(3, #h.out)
    assert.is_true(h.out[1].r == 111LL)
    assert.is_true(h.out[2].r == 222LL)
    assert.are.equal(2, h.out[2].p)
    assert.is_true(h.out[3].r == 333LL)
  end)

  it("a router match that raises skips that element only", function()
    local h = build({
      streams = { "data" }, frame = "array",
      router = { rules = { { channel = "data", match = "data.a.b == 1" } } },
      converters = { data = { { fields = { v = { source = "data.v" } } } } },
    })
    h.feed('[{"a":{"b":1},"v":1},{"v":2},{"a":{"b":1},"v":3}]')
    assert.are.same({ 1, 3 }, { h.out[1].v, h.out[2].v })
    assert.are.equal(1, h.stats.error_paths["router.rules[1].match"])
  end)

  it("a payload_path selection that raises skips the frame; the next one converts", function()
    local h = build(simple({ p = { source = "data.p" } }, { frame = "array",
      parser = { payload_path = "data.a.b" } }))
    h.feed('{"x":1}', '{"a":{"b":[{"p":1},{"p":2}]}}', '{"a":{}}', '{"a":{"b":{"p":3}}}')
    assert.are.same({ 1, 2, 3 }, { h.out[1].p, h.out[2].p, h.out[3].p })
    assert.are.equal(1, h.stats.error_paths["parser.payload_path"])
    assert.are.equal(1, h.stats.empty)
  end)

  it("logs the failing frame as the sample, also after a resume", function()
    local lines = {}
    local log = logmod.new({ level = "debug", sink = function(l) lines[#lines + 1] = l end })
    local h = build(simple({ p = { source = "num(data.p)" } }, { frame = "array" }), nil, { log = log })
    h.feed('[{"p":1}]', '[{"p":"first"}]', '[{"p":2}]', '[{"p":"second"}]')
    assert.are.equal(2, #h.out)
    local text = table.concat(lines, "\n")
    assert.truthy(text:find('[{"p":"first"}]', 1, true), text)
    assert.truthy(text:find('[{"p":"second"}]', 1, true), text)
  end)
end)
