-- Signals belong to each loop that asks: two hosts in one process both see a SIGTERM, close
-- their connections and finish, while a third reactor (the simulator's) that does not catch
-- signals keeps serving them until they are closed.
describe("signals", function()
  it("two hosts in one process both see SIGTERM and close cleanly", function()
    local build = os.getenv("FEEDHOST_BUILD") or "build"
    local out = os.tmpname()
    local rc = os.execute("luajit spec/helpers/two_hosts.lua " .. build .. " >" .. out .. " 2>" .. out .. ".err")
    local f = io.open(out)
    local text = f:read("*a")
    f:close()
    f = io.open(out .. ".err")
    local err = f:read("*a")
    f:close()
    os.remove(out)
    os.remove(out .. ".err")
    assert.are.equal(0, rc, text .. err)
    assert.matches("host1 finished=true state=closed records=%d+", text)
    assert.matches("host2 finished=true state=closed records=%d+", text)
    assert.matches("done", text)
    for i = 1, 2 do
      assert.matches("host" .. i .. " [^\n]* INFO signal 15: closing", err)
      assert.matches("host" .. i .. " [^\n]*closed 1000 closed by host", err)
    end
  end)
end)
