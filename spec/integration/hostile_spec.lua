-- Hostile input, tried as an attacker would: a server that misbehaves (silence, redirects, huge
-- headers, masked or non-UTF-8 frames, absurd lengths), broken outputs, bad command lines and
-- files. Each case ends with a clear message and the right exit code, loses nothing silently and
-- leaks no credential.
local it_ = require("spec.helpers.integration")

local HOSTILE = "spec/integration/servers/hostile_server.py"
local KEY, SECRET = "AKIT-HOSTILE-KEY", "SKIT-h0st1le-s3cr3t"

-- a spec of one connection `feed` that authenticates with a first message, and `extra` on it
local function spec_file(t, extra)
  return it_.write(t .. "/feed.lua", [[
return {
  name = "hostile",
  credentials = { fields = { "key", "secret" } },
  streaming = { connections = { feed = {
    url = "ws://127.0.0.1:1/",
    streams = { "data" },
    frame = "array",
    auth = { mode = "first_message", first_message = { format = "json", json = { fields = {
      action = { value = "auth" }, key = { source = "credentials.key" },
      secret = { source = "credentials.secret" } } } } },
    router = { rules = { { channel = "data", match = "data.T == 't'" } }, default_channel = "info" },
    converters = { data = { { fields = {
      asset = { source = "broker.infer_asset({symbol = data.S})" },
      timestamp = { source = "ts(data.t)" },
      data = { price = { source = "num(data.p)" }, volume = { source = "data.s" } },
    } } } },
    reconnect = { initial = 0.2, max = 0.5, factor = 2, jitter = 0.1, stable_after = 5 },
    ]] .. (extra or "") .. [[
  } } },
}
]])
end

local function creds(t)
  return it_.write(t .. "/creds.lua", string.format("return { key = %q, secret = %q }\n", KEY, SECRET))
end

local function hostile(t, mode, extra)
  local args = { "--mode", mode }
  for _, a in ipairs(extra or {}) do
    args[#args + 1] = a
  end
  return it_.server(t, args, { script = HOSTILE })
end

-- feedhost run against `url`, with `args` after the common ones
local function run(t, url, args, spec_extra)
  local argv = { "--credentials", creds(t), "--url", "feed=" .. url, "--stats-interval", "0",
    "--assets", "AAPL,MSFT" }
  for _, a in ipairs(args or {}) do
    argv[#argv + 1] = a
  end
  return it_.feedhost(t, spec_file(t, spec_extra), argv)
end

-- runs `cmd` (a shell command line) to the end; its exit status, stdout and stderr
local function sh(t, cmd)
  local out, err = t .. "/sh.out", t .. "/sh.err"
  local rc = os.execute("timeout 30 sh -c " .. it_.shq(cmd) .. " >" .. out .. " 2>" .. err)
  rc = rc > 255 and math.floor(rc / 256) or rc
  return rc, it_.read(out), it_.read(err)
end

local function no_secret(text)
  assert.is_nil(text:find(SECRET, 1, true), "the secret leaked:\n" .. text)
end

describe("hostile servers", function()
  after_each(it_.cleanup)

  it("a server that accepts TCP and never answers is given up after connect_timeout, then retried", function()
    local t = it_.tmpdir()
    local srv = hostile(t, "silent")
    local fh = run(t, srv:url("/"), nil, "limits = { connect_timeout = 0.5 },")
    it_.wait_for(function() return #srv:events("accept") >= 3 end, 10, "three connection attempts", fh, srv)
    assert.matches("no connection within 0.50s %(the handshake did not finish%)", fh:stderr())
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("a TLS peer that never answers the ClientHello is given up too", function()
    local t = it_.tmpdir()
    local srv = hostile(t, "silent")
    local fh = run(t, "wss://127.0.0.1:" .. srv.port .. "/", { "--insecure" }, "limits = { connect_timeout = 0.5 },")
    it_.wait_for(function() return #srv:events("accept") >= 2 end, 10, "two attempts", fh, srv)
    it_.wait_for(function() return fh:stderr():find("no connection within 0.50s", 1, true) end, 5,
      "the timeout logged", fh)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("a redirect is not followed: the credentials never reach the other host", function()
    local t = it_.tmpdir()
    local thief = hostile(t, "silent")
    local srv = hostile(t, "redirect", { "--target", tostring(thief.port) })
    local fh = run(t, srv:url("/"), nil, [[auth = { mode = "headers", headers = { fields = {
      ["X-Key"] = { source = "credentials.key" }, ["X-Secret"] = { source = "credentials.secret" } } } },]])
    it_.wait_for(function() return fh:stderr():find("HTTP 301", 1, true) end, 10, "the 301 logged", fh, srv)
    assert.matches("redirects the WebSocket upgrade %(not followed%)", fh:stderr())
    it_.sleep(0.5)
    assert.are.equal(0, #thief:events("accept"))
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
    no_secret(fh:stderr())
  end)

  it("handshake headers over 16 KiB are refused with that reason", function()
    local t = it_.tmpdir()
    local srv = hostile(t, "bigheader")
    local fh = run(t, srv:url("/"))
    it_.wait_for(function() return fh:stderr():find("over 16 KiB", 1, true) end, 10, "the reason", fh, srv)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("SIGTERM while a busy server streams: feedhost reads until the server closes, never resets the"
    .. " connection (the server still gets to answer the close)", function()
    local t = it_.tmpdir()
    local srv = hostile(t, "slowclose")
    local fh = run(t, "ws://127.0.0.1:" .. srv.port .. "/")
    it_.wait_for(function() return #fh:records() >= 50 end, 10, "records streaming", fh, srv)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
    local closed = it_.wait_for(function() return srv:events("closed")[1] end, 5,
      "the server's end of the close", srv)
    assert.are.equal(1, #srv:events("client_close"))
    assert.is_false(closed.reset, "the connection was reset: " .. it_.read(srv.log))
  end)

  it("a masked frame from the server is a protocol error (1002), not data", function()
    local t = it_.tmpdir()
    local srv = hostile(t, "masked")
    local fh = run(t, srv:url("/"))
    it_.wait_for(function() return fh:stderr():find("masked frame from the server", 1, true) end, 10,
      "the protocol error", fh, srv)
    assert.matches("closed 1002", fh:stderr())
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
    assert.are.equal("", fh:stdout())
  end)

  it("a text frame that is not UTF-8 is dropped and counted; the next one converts; output stays UTF-8", function()
    local t = it_.tmpdir()
    local srv = hostile(t, "badutf8")
    local fh = run(t, srv:url("/"))
    it_.wait_for(function() return fh:stdout():find("MSFT", 1, true) end, 10, "the good record", fh, srv)
    it_.wait_for(function() return fh:stderr():find("not UTF-8", 1, true) end, 5, "the drop logged", fh)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
    assert.is_nil(fh:stdout():find("AA", 1, true))
    for _, text in ipairs({ fh:stdout(), fh:stderr() }) do
      assert.is_nil(text:find("\255", 1, true), "a raw invalid byte was written")
    end
    assert.matches("AA\\xffPL", fh:stderr())   -- the sample shows it escaped
  end)

  it("a frame claiming 2^63 - 1 bytes is dropped as oversize, its payload read past, not kept", function()
    local t = it_.tmpdir()
    local srv = hostile(t, "hugelen")
    local fh = run(t, srv:url("/"))
    it_.wait_for(function() return fh:stderr():find("dropped a frame of at least", 1, true) end, 10,
      "the oversize drop", fh, srv)
    local peak = assert(fh:memory_kib("VmHWM"), "feedhost is gone")
    -- the server sends 256 MiB of the payload: the host reads it (the server's writes complete)
    -- and its peak memory grows by far less than that
    it_.wait_for(function() return srv:events("sent")[1] end, 60, "256 MiB of the payload sent", fh, srv)
    local grown = assert(fh:memory_kib("VmHWM"), "feedhost is gone") - peak
    assert(grown < 32 * 1024, "peak memory grew by " .. grown .. " KiB while 256 MiB of the frame came")
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
  end)

  it("connect errors of many sockets are rate-limited, not a line per attempt", function()
    local t = it_.tmpdir()
    local srv = hostile(t, "silent")   -- its port, then closed: nothing listens there any more
    local port = srv.port
    it_.cleanup()
    t = it_.tmpdir()
    local assets = {}
    for i = 1, 200 do
      assets[#assets + 1] = "S" .. i
    end
    local fh = run(t, "ws://127.0.0.1:" .. port .. "/", { "--assets", table.concat(assets, ",") },
      "limits = { max_assets = 1 },")
    it_.sleep(3)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(10))
    local errors = 0
    for line in fh:stderr():gmatch("[^\n]+") do
      if line:find(" ERROR ", 1, true) then
        errors = errors + 1
      end
    end
    assert.is_true(errors > 0 and errors <= 10, errors .. " error lines for 200 refused sockets")
    local lines = select(2, fh:stderr():gsub("\n", ""))
    assert.is_true(lines <= 40, lines .. " log lines for 200 refused sockets")
  end)
end)

describe("hostile command lines and files", function()
  after_each(it_.cleanup)

  local function cli(t, args)
    return sh(t, it_.shq(it_.BIN) .. " " .. args)
  end

  it("bad URLs, CA files, log levels and asset files end with exit 2 and a clear message", function()
    local t = it_.tmpdir()
    local spec = spec_file(t)
    local c = creds(t)
    local cases = {
      { "--url feed=http://127.0.0.1:9/", "a WebSocket URL must start with ws:// or wss://" },
      { "--url feed=ws://:9/", "no host in URL" },
      { "--ca-file /nonexistent/ca.pem", "cannot read the CA file" },
      { "--log-level bogus", "--log%-level must be one of" },
      { "--assets-file /dev/zero", "larger than" },
      { "--assets-file " .. t, "Is a directory" },
    }
    for _, case in ipairs(cases) do
      local rc, _, err = cli(t, "run " .. spec .. " --credentials " .. c .. " " .. case[1])
      assert.are.equal(2, rc, case[1] .. ": " .. err)
      assert.matches(case[2], err)
      assert.is_nil(err:find("internal error", 1, true), err)
    end
  end)

  it("a broken credentials file is an error that never echoes its content", function()
    local t = it_.tmpdir()
    local spec = spec_file(t)
    for _, body in ipairs({ '{"key": "' .. KEY .. '", "secret": "' .. SECRET .. '",}',
      'return { key = "' .. KEY .. '" secret = "' .. SECRET .. '" }' }) do
      local c = it_.write(t .. "/bad-creds", body)
      local rc, out, err = cli(t, "check " .. spec .. " --credentials " .. c)
      assert.are.equal(2, rc, err)
      no_secret(out .. err)
      assert.is_nil(err:find(KEY, 1, true), err)
    end
  end)

  it("check prints the credentials as *** wherever they would go", function()
    local t = it_.tmpdir()
    local rc, out = cli(t, "check " .. spec_file(t) .. " --credentials " .. creds(t))
    assert.are.equal(0, rc)
    assert.matches('"key":"%*%*%*"', out)
    no_secret(out)
  end)

  it("a capture that is not one (/dev/zero) ends the replay with exit 2", function()
    local t = it_.tmpdir()
    local rc, _, err = cli(t, "replay " .. spec_file(t) .. " /dev/zero")
    assert.are.equal(2, rc)
    assert.matches("not a capture", err)
  end)

  it("a number beyond the double range (1e400) is an error at its key path, never a crash", function()
    local t = it_.tmpdir()
    local cap = it_.write(t .. "/cap.ndjson", '{"connection":"feed","text":"[{\\"T\\":\\"t\\",\\"S\\":\\"AAPL\\",'
      .. '\\"p\\":1e400,\\"s\\":1,\\"t\\":\\"2021-02-22T15:51:44Z\\"},{\\"T\\":\\"t\\",\\"S\\":\\"MSFT\\",'
      .. '\\"p\\":2,\\"s\\":1,\\"t\\":\\"2021-02-22T15:51:44Z\\"}]"}\n')
    local rc, out, err = cli(t, "replay " .. spec_file(t) .. " " .. cap)
    assert.are.equal(0, rc, err)
    assert.matches('"asset":"MSFT"', out)
    assert.matches("converters.data%[1%].fields.data.price", err)
    assert.matches("expected a finite number", err)
  end)
end)

describe("outputs that fail", function()
  after_each(it_.cleanup)

  -- feedhost demo writes records fast: each broken output must end it (exit 1), and soon
  local function demo(t, redirect)
    return sh(t, it_.shq(it_.BIN) .. " demo --stats-interval 0 --rate 50 " .. redirect)
  end

  it("stdout closed by the reader (| head -1) ends the run with exit 1", function()
    local t = it_.tmpdir()
    local rc, out = sh(t, "(" .. it_.shq(it_.BIN) .. " demo --stats-interval 0 --rate 50 2>" .. t
      .. "/demo.err; echo $? >" .. t .. "/demo.rc) | head -1")
    assert.are.equal(0, rc)   -- head's
    assert.matches('"channel"', out)
    assert.are.equal("1", it_.read(t .. "/demo.rc"):match("%d+"))
    assert.matches("stdout: Broken pipe", it_.read(t .. "/demo.err"))
  end)

  it("a full disk (/dev/full) and a closed stdout end the run with exit 1", function()
    local t = it_.tmpdir()
    local rc, _, err = demo(t, ">/dev/full")
    assert.are.equal(1, rc, err)
    assert.matches("No space left on device", err)
    rc, _, err = demo(t, ">&-")
    assert.are.equal(1, rc, err)
    assert.matches("stdout:", err)
  end)

  it("--record to a full disk ends the run; a capture is private and holds no credential", function()
    local t = it_.tmpdir()
    local srv = it_.server(t, { "--key", KEY, "--secret", SECRET, "--rate", "20" })
    local spec = spec_file(t, "")
    local base = it_.shq(it_.BIN) .. " run " .. spec .. " --credentials " .. creds(t)
      .. " --assets AAPL --stats-interval 0 --url feed=" .. srv:url("/v2/iex")
    local rc, _, err = sh(t, base .. " --record /dev/full --output none")
    assert.are.equal(1, rc, err)
    assert.matches("%-%-record: No space left on device", err)
    local cap = t .. "/cap.ndjson"
    local fh = it_.spawn(t, "feedhost", { it_.BIN, "run", spec, "--credentials", creds(t), "--assets", "AAPL",
      "--stats-interval", "0", "--url", "feed=" .. srv:url("/v2/iex"), "--record", cap, "--output", "none" })
    it_.wait_for(function() return it_.read(cap):find('"dir":"in"', 1, true) end, 10, "frames captured", fh, srv)
    fh:signal("TERM")
    assert.are.equal(0, fh:wait_exit(5))
    local mode = io.popen("stat -c %a " .. it_.shq(cap)):read("*l")
    assert.are.equal("600", mode)
    no_secret(it_.read(cap))
    assert.matches('\\"secret\\":\\"%*%*%*\\"', it_.read(cap))
  end)
end)
