-- feedhost.spec.expr: checking expression strings, the tape rewrite, selections and string lambdas.
local expr = require("feedhost.spec.expr")

local DATA = expr.allowed("data", { "my_decoder" })

local function check_err(src, allowed)
  local fn, err = expr.check(src, allowed or DATA)
  assert.is_nil(fn, "expected " .. tostring(src) .. " to be refused")
  assert.is_string(err)
  return err
end

local function check_ok(src, allowed)
  local fn, err = expr.check(src, allowed or DATA)
  assert.is_function(fn, tostring(src) .. ": " .. tostring(err))
  return fn
end

describe("expr.check", function()
  it("accepts a well-formed expression over context names and helpers", function()
    check_ok("num(data.p) * 2")
    check_ok("ts(data.t, 'ms')")
    check_ok("map(data.l, '|x| x.price')")
    check_ok("string.format('%d', 1) .. math.floor(2.5) .. tostring(received_at)")
    check_ok("my_decoder(data)") -- a registry name given as extra
  end)

  it("returns a function that evaluates the expression when given an environment", function()
    local fn = check_ok("1 + 2 * 3")
    assert.are.equal(7, fn())
  end)

  it("reports a syntax error without the chunk name noise", function()
    local err = check_err("num(data.p")
    assert.truthy(err:match("^syntax error: "), err)
    assert.truthy(err:find("')' expected", 1, true), err)
    assert.falsy(err:find("expression:1:", 1, true), err)
  end)

  it("refuses a statement where an expression is expected", function()
    assert.truthy(check_err("x = 1"):match("^syntax error"))
  end)

  it("names an unknown name and suggests the closest known one", function()
    assert.are.equal("unknown name 'nmu' (did you mean 'num'?)", check_err("nmu(data.p)"))
    assert.are.equal("unknown name 'dat' (did you mean 'data'?)", check_err("dat.x"))
  end)

  it("names an unknown name without a suggestion when nothing is close", function()
    assert.are.equal("unknown name 'zzzqqq'", check_err("zzzqqq + 1"))
  end)

  it("refuses os, io, require, print, load, debug and ffi with a reason", function()
    assert.are.equal("'os' is not available in expressions", check_err("os.time()"))
    assert.are.equal("'io' is not available in expressions", check_err("io.open('x')"))
    assert.are.equal("'require' is not available in expressions (require it in a registry module)",
      check_err("require('socket')"))
    assert.are.equal("'print' is not available in expressions (use broker.logger)", check_err("print(data)"))
    assert.truthy(check_err("load('return 1')"):match("^'load' is not available"))
    assert.truthy(check_err("debug.traceback()"):match("^'debug' is not available"))
    assert.truthy(check_err("ffi.new('int')"):match("^'ffi' is not available"))
    assert.truthy(check_err("_G.os"):match("^'_G' is not available"))
    assert.truthy(check_err("setmetatable({}, {})"):match("^'setmetatable' is not available"))
  end)

  it("finds a forbidden name inside a nested function", function()
    assert.truthy(check_err("(function() return os.getenv('HOME') end)()"):match("^'os'"))
  end)

  it("refuses assignment to a global, even to a context name", function()
    assert.are.equal("assigns to global 'x' (use local, or a registry function)",
      check_err("(function() x = 1 end)()"))
    assert.truthy(check_err("(function() data = 1 end)()"):match("^assigns to global 'data'"))
  end)

  it("allows assignment to a local inside a function", function()
    local fn = check_ok("(function() local x = 1; x = x + 1; return x end)()")
    assert.are.equal(2, fn())
  end)

  it("refuses a non-string", function()
    assert.are.equal("expected an expression string", check_err(42))
  end)

  describe("context names per location", function()
    it("data location: data, broker, credentials, mappings, connection_name, channel, received_at", function()
      for _, n in ipairs({ "data", "broker", "credentials", "mappings", "connection_name", "channel",
        "received_at" }) do
        check_ok(n, expr.allowed("data"))
      end
      check_err("subscribe_assets", expr.allowed("data"))
      check_err("message", expr.allowed("data"))
      check_err("asset", expr.allowed("data"))
    end)

    it("auth location: credentials, broker, connection_name; no data or subscribe_assets", function()
      local A = expr.allowed("auth")
      check_ok("credentials.api_key .. connection_name", A)
      check_ok("broker", A)
      assert.truthy(check_err("data.x", A):match("^unknown name 'data'"))
      check_err("subscribe_assets", A)
      check_err("channel", A)
    end)

    it("subscribe location: adds subscribe_assets, channel and state, but not asset", function()
      local S = expr.allowed("subscribe")
      check_ok("map(subscribe_assets, '|a| a.symbol')", S)
      check_ok("channel", S)
      check_ok("state['trades:tBTCUSD']", S)
      check_ok("credentials.api_key", S)
      assert.truthy(check_err("asset.symbol", S):match("^unknown name 'asset'"))
      check_err("data", S)
    end)

    it("text tokens: asset and state are allowed", function()
      check_ok("asset.symbol", expr.allowed("token"))
      check_ok("state[asset.symbol]", expr.allowed("token"))
    end)

    it("hooks: message, error, code, reason; no data", function()
      local Hk = expr.allowed("hook")
      for _, n in ipairs({ "message", "error", "code", "reason", "broker", "credentials", "connection_name" }) do
        check_ok(n, Hk)
      end
      check_err("data", Hk)
    end)

    it("helpers and the safe library are allowed everywhere", function()
      for _, loc in ipairs({ "auth", "subscribe", "token", "data", "hook" }) do
        local a = expr.allowed(loc)
        for _, n in ipairs({ "ts", "now", "num", "int", "str", "map", "filter", "split", "json", "string",
          "math", "table", "tonumber", "pairs", "ipairs", "type", "pcall" }) do
          assert.is_true(a[n] == true, n .. " at " .. loc)
        end
        assert.is_nil(a.os)
        assert.is_nil(a.require)
      end
    end)

    it("an unknown location allows only the library and the extras", function()
      local a = expr.allowed("nowhere", { "extra_fn" })
      assert.is_true(a.extra_fn)
      assert.is_true(a.num)
      assert.is_nil(a.data)
    end)
  end)
end)

describe("expr.globals", function()
  it("lists the names a function reads and writes", function()
    local fn = loadstring("return (function() y = a + b end)")
    local seen = {}
    for _, g in ipairs(expr.globals(fn)) do
      seen[g.name] = g.set and "set" or "get"
    end
    assert.are.same({ a = "get", b = "get", y = "set" }, seen)
  end)
end)

describe("expr.rewrite_tape", function()
  local rw = expr.rewrite_tape
  local ffi = require("ffi")
  local tape = require("feedhost.spec.tape")
  local json = require("feedhost.util.json")
  local helpers = require("feedhost.spec.helpers")

  local function env_with(data)
    return setmetatable({ data = data, num = helpers.num, ts = helpers.ts }, { __index = _G })
  end

  -- evaluates rw(src) with `data` the root token of `text` parsed into a tape
  local eval_reader = tape.new()
  local function eval_tape(src, text, as_token)
    local R = eval_reader
    local code = assert(rw(src, as_token), "rewrite refused " .. src)
    local root = assert(R.parse(ffi.cast("const char *", text), #text))
    local env = env_with(root)
    env._JG, env._JT, env._JM, env._JEQ, env._JTS = R.get, R.tok, R.mat, R.eq, R.ts
    env._keep = text -- the tape points into `text`
    local fn = assert(loadstring("return " .. code))
    setfenv(fn, env)
    return fn()
  end

  it("turns a member chain into tape lookups ending in a value read", function()
    assert.are.equal('_JG(_JT(data, "a"), "b")', rw("data.a.b"))
    assert.are.equal('_JG(data, "p")', rw("data.p"))
  end)

  it("reads a bracketed string key that is not an identifier", function()
    assert.are.equal('_JG(data, "x-y")', rw('data["x-y"]'))
    assert.are.equal('_JG(_JT(data, "a"), 2)', rw("data['a'][2]"))
  end)

  it("reads an array element by its 1-based index", function()
    assert.are.equal('_JG(_JT(data, 1), "T")', rw("data[1].T"))
    assert.are.equal('_JG(data, 3)', rw("data[3]"))
  end)

  it("materializes bare data", function()
    assert.are.equal("_JM(data)", rw("data"))
    assert.are.equal("type(_JM(data))", rw("type(data)"))
  end)

  it("materializes a chain indexed by a non-literal key", function()
    assert.are.equal("_JM(data)[i]", rw("data[i]"))
    assert.are.equal("_JM(data)[-1]", rw("data[-1]"))
  end)

  it("leaves msg.data, x.data.y and a method name data untouched", function()
    assert.are.equal("msg.data", rw("msg.data"))
    assert.are.equal("x.data.y", rw("x.data.y"))
    assert.are.equal("x:data()", rw("x:data()"))
  end)

  it("leaves a table constructor key named data untouched, but rewrites its value", function()
    assert.are.equal("{data = 1}", rw("{data = 1}"))
    assert.are.equal('{ data = _JG(data, "x") }', rw("{ data = data.x }"))
    assert.are.equal('{ a = 1, data = _JG(data, "y") }', rw("{ a = 1, data = data.y }"))
  end)

  it("does not touch data inside strings or longer names", function()
    assert.are.equal("'data.x' .. my_data", rw("'data.x' .. my_data"))
  end)

  it("rewrites every use in a compound expression", function()
    local out = rw("num(data.p) + num(data.q[2]) > 0 and data or nil")
    assert.are.equal('num(_JG(data, "p")) + num(_JG(_JT(data, "q"), 2)) > 0 and _JM(data) or nil', out)
  end)

  -- the rewritten code, run over a real tape, gives what the source gives over decoded JSON
  describe("evaluated over a parsed frame", function()
    local frame = '{"T":"t","S":"AAPL","p":"101.5","q":[1,2,{"z":"deep"}],"x-y":7,'
      .. '"a":{"b":{"c":"abc"}},"t":"2024-11-26T09:15:00.123456789Z","n":null,"e":"a\\u00e9",'
      .. '"u":"caf\\u00e9 \\"q\\"","k":5,"ks":"5","kt":true}'
    local cases = {
      "data.T", "data.a.b.c", 'data["x-y"]', "data.q[3].z", "data.q[2]", "num(data.p) * 2",
      "data.T == 't' and data.S or 'no'", "data.T ~= 'q'", "data.S == 'MSFT'", "data.missing == nil",
      "data.n == nil", "data.n", "data.a.b.c .. data.T", "data.e", "data.u", [[data.u == 'caf\195\169 "q"']],
      "data.u ~= 'cafe'", "data.k == '5'", "data.ks == '5'", "data.kt == 'true'", "data.n == 'null'",
      "data.a == 'x'", "data.e == 'a\\195\\169'", "#data.q", "data.q[5] == nil",
      "(data.a.b.c == 'abc') == true", "type(data)", "data.T == 't' and data.q[3].z == 'deep'",
    }
    for _, src in ipairs(cases) do
      it(src, function()
        local want_fn = assert(loadstring("return " .. src))
        setfenv(want_fn, env_with(json.decode(frame)))
        local want = want_fn()
        assert.are.same(want, eval_tape(src, frame))
      end)
    end

    it("ts(data.t) stays an exact int64", function()
      local got = eval_tape("ts(data.t)", frame)
      assert.is_true(ffi.istype("int64_t", got))
      assert.is_true(got == 1732612500123456789LL)
    end)

    it("a rebound data is left to the caller (nil), and the source still evaluates", function()
      assert.is_nil(rw("(function(data) return data.T end)(data)"))
    end)

    it("in token mode the result is a token the reader can materialize", function()
      local tok = eval_tape("data.a.b or data", frame, true)
      assert.is_number(tok)
      assert.are.same({ c = "abc" }, eval_reader.mat(tok))
      local root = eval_tape("data.nope or data", frame, true)
      assert.are.equal(0, root)
    end)
  end)

  it("returns nil when data is rebound by a function parameter", function()
    assert.is_nil(rw("(function(data) return data.x end)(1)"))
    assert.is_nil(rw("map(data.l, function(a, data) return data end)"))
  end)

  it("returns nil when data is rebound by a for loop", function()
    assert.is_nil(rw("(function() for k, data in pairs(t) do end end)()"))
  end)

  it("keeps a function whose parameter is not data", function()
    assert.are.equal('map(_JG(data, "l"), function(x) return x.data end)',
      rw("map(data.l, function(x) return x.data end)"))
  end)

  it("in token mode ends chains in token lookups and keeps bare data as the token", function()
    assert.are.equal('_JT(_JT(data, "a"), "b")', rw("data.a.b", true))
    assert.are.equal('_JT(data, "payload") or data', rw("data.payload or data", true))
    assert.are.equal("data", rw("data", true))
  end)

  it("rewrites another name when asked", function()
    assert.are.equal('_JG(msg, "a")', rw("msg.a", false, "msg"))
    assert.are.equal("data.a", rw("data.a", false, "msg"))
  end)
end)

describe("expr.is_selection", function()
  it("is true for chains combined with and / or / parentheses", function()
    for _, s in ipairs({ "data", "data.data", "data.payload or data", "data[1]", "data['k']",
      "(data.a or data.b)", "data.a.b" }) do
      assert.is_true(expr.is_selection(s), s)
    end
  end)

  it("is false for anything computed", function()
    for _, s in ipairs({ "json.decode(data.body)", "data.x == 1", "data[i]", "data.a:b()", "1",
      "data .. 'x'", "not data" }) do
      assert.is_false(expr.is_selection(s), s)
    end
  end)

  it("is false for text that does not lex", function()
    assert.is_false(expr.is_selection("data['unterminated"))
  end)
end)

describe("expr.lambda_source", function()
  it("turns a string lambda into function source", function()
    local src = expr.lambda_source("|a| a.broker_symbol or a.symbol")
    assert.is_string(src)
    local f = assert(loadstring("return " .. src))()
    assert.are.equal("B", f({ broker_symbol = "B", symbol = "S" }))
    assert.are.equal("S", f({ symbol = "S" }))
  end)

  it("takes several parameters", function()
    local f = assert(loadstring("return " .. expr.lambda_source("|a, i| a * i")))()
    assert.are.equal(12, f(3, 4))
  end)

  it("takes no parameters", function()
    local f = assert(loadstring("return " .. expr.lambda_source("|| 7")))()
    assert.are.equal(7, f())
  end)

  it("a body ending in a comment still closes", function()
    local f = assert(loadstring("return " .. expr.lambda_source("|a| a + 1 -- plus one")))()
    assert.are.equal(2, f(1))
  end)

  it("is nil for a string that is not a lambda", function()
    assert.is_nil(expr.lambda_source("a + 1"))
    assert.is_nil(expr.lambda_source("|a-b| a"))
  end)
end)

describe("expr.lex", function()
  it("splits names, keywords, strings, numbers and operators", function()
    local toks = assert(expr.lex("data.a == 'x' and 1.5e3 ~= n .. [[s]]"))
    local kinds = {}
    for i, t in ipairs(toks) do
      kinds[i] = t.t .. ":" .. t.v
    end
    assert.are.same({ "name:data", "op:.", "name:a", "op:==", "str:'x'", "kw:and", "num:1.5e3", "op:~=",
      "name:n", "op:..", "str:[[s]]" }, kinds)
  end)

  it("reports an unfinished string", function()
    local toks, err = expr.lex("'abc")
    assert.is_nil(toks)
    assert.are.equal("unfinished string", err)
  end)
end)
