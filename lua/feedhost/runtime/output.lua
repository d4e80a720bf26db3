--- feedhost.runtime.output: records out as NDJSON lines on a file descriptor (stdout).
--
-- Lines go into one C buffer (host/codec/ndjson.h): written there by the compiled converters
-- themselves (feedhost.spec.codegen_out), or encoded from record tables (`write`). After every
-- step of the loop the host writes what the descriptor takes, in large writes, without blocking
-- (pipes and sockets are made non-blocking; their mode is put back at close). Lines the
-- descriptor did not take (`waiting()`) go as soon as it has room: the host's loop wakes for that
-- (feedhost.init's flush), not only for its next frame or timer.
--
-- A reader slower than the feed (the policy, stated in the README):
--   1. the buffer holds at most `limit` bytes (default 32 MiB): memory stays bounded;
--   2. past half of it, the host stops reading its sockets and waits for the reader, at most
--      `wait` seconds (default 2) at a time, returning to the loop at once for a signal;
--   3. a reader still behind after that: the host reads its sockets again and lines that do not
--      fit are dropped and counted (stats, one warning), until the reader has caught up (the
--      buffer under a quarter), which is logged with the count;
--   4. a reader that went away (EPIPE) or a write error ends the run: flush returns the error
--      and the host stops with exit 1;
--   5. a signal is taken at once, whatever the reader does; once the host stops, the reader has
--      2 s to take what is left, and what it did not take is logged.
local ffi = require("ffi")
local sys = require("feedhost.sys.ffi")
local clock = require("feedhost.sys.clock")

local api = sys.api
local M = {}

local ERRNO = { [32] = "Broken pipe (the reader went away)", [28] = "No space left on device",
  [5] = "Input/output error", [27] = "File too large", [122] = "Disk quota exceeded",
  [9] = "Bad file descriptor (closed)", [2] = "No such file or directory",
  [13] = "Permission denied", [21] = "Is a directory" }

local function describe(e)
  return ERRNO[e] or ("error " .. e)
end

--- A new NDJSON output. opts: { fd = 1, name = "stdout", limit = bytes, wait = seconds,
--- log = logger, path = a file to write instead of fd (created or truncated; closed by close) }
-- @return output { out (fh_out *), fd, write(rec), flush(interrupted) -> true | nil, err,
--         waiting() -> bool, close(seconds) -> true | nil, err, stats() },
--         or nil, message (path not writable)
function M.ndjson(opts)
  opts = opts or {}
  local fd, name, log = opts.fd or 1, opts.name or "stdout", opts.log
  local own_fd = false
  if opts.path then
    fd = api.fd_create(opts.path)
    if fd < 0 then
      return nil, opts.path .. ": " .. describe(-fd)
    end
    name, own_fd = opts.path, true
  end
  local limit = opts.limit or 32 * 1024 * 1024
  local wait = opts.wait or 2
  local out = api.out_new(limit)
  assert(out ~= nil, "out of memory")
  out = ffi.gc(out, api.out_free)
  local high, low = math.floor(limit / 2), math.floor(limit / 4)
  local was_nonblock = api.fd_nonblock(fd, 1)
  local o = { out = out, fd = fd, unwritable = 0, lost = 0 }
  local shedding, dropped_at = false, 0
  local ndjson = require("feedhost.data.record").ndjson

  --- A record table: encoded in Lua, one line (one that cannot be encoded is counted, logged).
  function o.write(r)
    local ok, line = pcall(ndjson, r, r.channel, r.connection)
    if not ok then
      o.unwritable = o.unwritable + 1
      if log then
        log:event("error", "ndjson", "record not written: " .. tostring(line))
      end
      return
    end
    api.out_line(out, line, #line)
  end

  local function failed(e)
    return nil, name .. ": " .. describe(e)
  end

  --- Writes what the descriptor takes; waits for a slow reader as the policy says.
  -- interrupted: function() -> true when the wait must end now (a signal is waiting).
  function o.flush(interrupted)
    local e = api.out_write(out, fd)
    if e ~= 0 then
      return failed(e)
    end
    if shedding then
      if out.len <= low then
        shedding = false
        if log then
          log:info("%s caught up: %d record lines were dropped while it was behind", name,
            tonumber(out.dropped) - dropped_at)
        end
      end
      return true
    end
    if out.len <= high then
      return true
    end
    local deadline = clock.mono() + wait
    while out.len > high do
      if interrupted and interrupted() then
        return true
      end
      if clock.mono() >= deadline then
        shedding, dropped_at = true, tonumber(out.dropped)
        if log then
          log:warning("%s is not keeping up with the feed (%d MiB waiting after %gs): record"
            .. " lines that do not fit are dropped and counted until it catches up", name,
            math.floor(tonumber(out.len) / 1048576), wait)
        end
        return true
      end
      e = api.out_wait(out, fd, 50)
      if e ~= 0 then
        return failed(e)
      end
    end
    return true
  end

  --- The last lines out (at most `seconds`, default 2), then the descriptor's mode put back. What
  --- the reader did not take by then is logged (and counted in stats().lost), not waited for.
  function o.close(seconds)
    local deadline = clock.mono() + (seconds or 2)
    local e = api.out_write(out, fd)
    while e == 0 and out.len > 0 and clock.mono() < deadline do
      e = api.out_wait(out, fd, 50)
    end
    if was_nonblock == 0 then
      api.fd_nonblock(fd, 0)
      was_nonblock = -1
    end
    if own_fd then
      api.fd_close(fd)
      own_fd = false
    end
    if e ~= 0 then
      return failed(e)
    end
    if out.len > 0 then
      o.lost = tonumber(out.len)
      if log then
        log:warning("%s did not take the last %d bytes of records within %gs: not written", name,
          o.lost, seconds or 2)
      end
    end
    return true
  end

  --- Whether whole lines wait for room in the descriptor (it took only part of them).
  function o.waiting()
    return out.line > 0
  end

  --- { lines, dropped, waiting (bytes), unwritable, lost (bytes not taken at close) }
  function o.stats()
    return { lines = tonumber(out.lines), dropped = tonumber(out.dropped),
      waiting = tonumber(out.len), unwritable = o.unwritable, lost = o.lost or 0 }
  end

  return o
end

return M
