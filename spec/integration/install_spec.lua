-- The installed module: `cmake --install` of the build in use into a temporary prefix, then plain
-- luajit, run outside the source tree with that prefix's standard directories (share/lua/5.1,
-- lib/lua/5.1) on its paths before the system's own (";;": LuaJIT's jit.* modules, Debian's
-- lua-cjson and lua-luv), never the source or build tree: require "feedhost" works, the files the
-- command embeds (specs, registry modules) are found, the installed command runs, and the example
-- application (spec/examples/bars.lua, its own luv loop) prints bars as they close.
local it_ = require("spec.helpers.integration")

local BUILD = os.getenv("FEEDHOST_BUILD") or "build"
local SRC = io.popen("pwd"):read("*l")

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return rc, out:gsub("rc=%d+%s*$", "")
end

describe("installed", function()
  local prefix, env
  setup(function()
    prefix = it_.tmpdir()
    local rc, out = sh("cmake --install " .. it_.shq(BUILD) .. " --prefix " .. it_.shq(prefix))
    assert.are.equal(0, rc, out)
    env = string.format("cd %s && LUA_PATH=%s LUA_CPATH=%s ", it_.shq(prefix),
      it_.shq(prefix .. "/share/lua/5.1/?.lua;" .. prefix .. "/share/lua/5.1/?/init.lua;;"),
      it_.shq(prefix .. "/lib/lua/5.1/?.so;;"))
  end)
  teardown(function()
    it_.cleanup()
  end)

  it("puts the modules, core.so and the command in the prefix's standard directories", function()
    for _, f in ipairs({ "share/lua/5.1/feedhost/init.lua", "share/lua/5.1/feedhost/runtime/reload.lua",
      "share/lua/5.1/feedhost/resources/specs/alpaca.lua", "share/lua/5.1/feedhost/resources/registry/kite.lua",
      "lib/lua/5.1/feedhost/core.so", "bin/feedhost" }) do
      assert.is_truthy(io.open(prefix .. "/" .. f), "installed " .. f)
    end
  end)

  it("require 'feedhost' works from plain luajit with the prefix's directories on its paths", function()
    local rc, out = sh(env .. [[luajit -e '
      local feedhost = require("feedhost")
      print("from", package.searchpath("feedhost", package.path))
      print("core", package.searchpath("feedhost.core", package.cpath))
      local spec = assert(feedhost.load{ spec = "specs/kite.lua", lenient_credentials = true,
        credentials = { api_key = "k", access_token = "t" } })
      local out = assert(spec:outbound("market_data", assert(spec:resolve{ "INFY" })))
      print("url", out.url)
      print("version", feedhost.version)']])
    assert.are.equal(0, rc, out)
    assert.matches("from\t" .. prefix:gsub("%p", "%%%0") .. "/share/lua/5.1/feedhost/init%.lua", out)
    assert.matches("core\t" .. prefix:gsub("%p", "%%%0") .. "/lib/lua/5.1/feedhost/core%.so", out)
    -- a spec and the registry module it requires, found among the installed resources
    assert.matches("url\twss://ws%.kite%.trade%?access_token=t&api_key=k", out)
    assert.matches("version\t%d+%.%d+%.%d+", out)
  end)

  it("the installed command runs the embedded demo", function()
    local rc, out = sh(env .. it_.shq(prefix .. "/bin/feedhost")
      .. " demo --duration 2 --rate 20 --stats-interval 0 --log-level warning")
    assert.are.equal(0, rc, out)
    assert.matches('"channel":"data","connection":"market_data"', out)
  end)

  it("luarocks make installs the same files in a rocks tree", function()
    local tree = it_.tmpdir()
    local rc, out = sh("luarocks --lua-version 5.1 make --tree " .. it_.shq(tree) .. " feedhost-scm-1.rockspec")
    assert.are.equal(0, rc, out)
    local function files(root)
      local list = {}
      for _, dir in ipairs({ "share/lua/5.1", "lib/lua/5.1", "bin" }) do
        local p = io.popen("cd " .. it_.shq(root .. "/" .. dir) .. " && find . -type f | sort")
        for line in p:lines() do
          list[#list + 1] = dir .. line:sub(2)
        end
        p:close()
      end
      return list
    end
    local installed = files(prefix)
    assert.is_true(#installed > 50)
    assert.are.same(installed, files(tree))
    rc, out = sh("cd " .. it_.shq(tree) .. " && LUA_PATH=" .. it_.shq(tree .. "/share/lua/5.1/?.lua;"
      .. tree .. "/share/lua/5.1/?/init.lua;;") .. " LUA_CPATH=" .. it_.shq(tree .. "/lib/lua/5.1/?.so;;")
      .. [[ luajit -e 'print(require("feedhost").version, package.searchpath("feedhost.core", package.cpath))']])
    assert.are.equal(0, rc, out)
    assert.matches(tree:gsub("%p", "%%%0") .. "/lib/lua/5.1/feedhost/core%.so", out)
  end)

  it("runs the example application (its own luv loop) and prints bars as they close", function()
    local rc, out = sh(env .. "timeout 30 luajit " .. it_.shq(SRC .. "/spec/examples/bars.lua") .. " --interval 2 --duration 8")
    assert.are.equal(0, rc, out)
    for _, sym in ipairs({ "AAPL", "MSFT", "TSLA" }) do
      local n = 0
      for _ in out:gmatch("%d%d:%d%d:%d%d " .. sym .. " +2s  open [%d.]+  high [%d.]+  low [%d.]+  close [%d.]+") do
        n = n + 1
      end
      assert.is_true(n >= 2, sym .. " bars: " .. out)
    end
  end)
end)
