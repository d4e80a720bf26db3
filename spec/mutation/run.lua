-- The mutation run: does the test suite catch the faults of spec/mutation/faults.lua?
--
--   luajit spec/mutation/run.lua [--only 3,7-9] [--list] [--keep] [--min PERCENT] [--no-baseline]
--                                [--full]
--
-- Copies the tree (the files git tracks and the untracked ones it does not ignore) under /tmp,
-- builds it once, and runs the tests every fault names on the unchanged copy (the baseline: a
-- test that fails there proves nothing). Then, one fault at a time: applies its patch (its `find`
-- text must stand exactly once in its file, else "fault N no longer applies"), rebuilds
-- (incrementally: C and the Lua embedded in the binary), runs its tests, and puts the file back.
-- A fault is caught when one of its tests fails (or times out). Prints a table, the score and
-- the missed faults; exits 1 when the score is under --min (default 90), 2 when the run itself
-- is broken (a fault that no longer applies or does not build, a baseline failure).
-- Output of every test run: <copy>/mutation-logs/ (kept with --keep). --full runs the whole suite
-- (ctest: C units, busted unit and integration) for every fault instead of the tests it names:
-- slow (about half a minute a fault), it measures what the suite as a whole catches.
local ffi = require("ffi")

pcall(ffi.cdef, [[
  typedef struct { long tv_sec; long tv_nsec; } fh_mut_timespec;
  int fh_mut_clock_gettime(int clk, fh_mut_timespec *tp) __asm__("clock_gettime");
]])
local tspec = ffi.new("fh_mut_timespec")
local function now()
  ffi.C.fh_mut_clock_gettime(1, tspec)
  return tonumber(tspec.tv_sec) + tonumber(tspec.tv_nsec) / 1e9
end

local TEST_TIMEOUT = 600   -- seconds per test command (a hang counts as caught)

local function shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == 0 or ok == true
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local s = p:read("*a")
  p:close()
  return s
end

local function die(code, msg)
  io.stderr:write("mutation: ", msg, "\n")
  os.exit(code)
end

-- ---- options --------------------------------------------------------------------------------------
local opts = { min = 90 }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--only" then
      opts.only = {}
      for part in tostring(arg[i + 1]):gmatch("[^,]+") do
        local lo, hi = part:match("^(%d+)%-(%d+)$")
        lo, hi = tonumber(lo or part), tonumber(hi or part)
        if not lo or not hi then
          die(2, "--only takes fault numbers: 3,7-9")
        end
        for n = lo, hi do
          opts.only[n] = true
        end
      end
      i = i + 1
    elseif a == "--min" then
      opts.min = tonumber(arg[i + 1]) or die(2, "--min takes a percentage")
      i = i + 1
    elseif a == "--list" then
      opts.list = true
    elseif a == "--keep" then
      opts.keep = true
    elseif a == "--no-baseline" then
      opts.no_baseline = true
    elseif a == "--full" then
      opts.full = true
    elseif a == "-h" or a == "--help" then
      print("usage: luajit spec/mutation/run.lua [--only 3,7-9] [--list] [--keep] [--min PERCENT]"
        .. " [--no-baseline] [--full]")
      os.exit(0)
    else
      die(2, "unknown argument " .. a)
    end
    i = i + 1
  end
end

local root = capture("git rev-parse --show-toplevel 2>/dev/null"):gsub("%s+$", "")
if root == "" then
  die(2, "run it inside the feedhost git checkout")
end
local faults = dofile(root .. "/spec/mutation/faults.lua")

local FULL = { ctest = ".*", label = "the whole suite" }

local function test_label(t)
  if t.label then
    return t.label
  end
  if t.ctest then
    return "ctest " .. t.ctest
  end
  local f = t.filter
  if type(f) == "table" then
    f = table.concat(f, "|")
  end
  return t.busted:gsub("^spec/", "") .. (f and (" [" .. f .. "]") or "")
end

if opts.list then
  for n, f in ipairs(faults) do
    local tl = {}
    for i, t in ipairs(f.tests) do
      tl[i] = test_label(t)
    end
    print(string.format("%2d  %-84s %s\n    tests: %s", n, f.name, f.file, table.concat(tl, "; ")))
  end
  os.exit(0)
end

-- ---- faults apply? ----------------------------------------------------------------------------------
local selected = {}
for n, f in ipairs(faults) do
  if not opts.only or opts.only[n] then
    local ok, text = pcall(read, root .. "/" .. f.file)
    if not ok then
      die(2, string.format("fault %d no longer applies: no file %s", n, f.file))
    end
    local count, at = 0, 1
    while true do
      local s, e = text:find(f.find, at, true)
      if not s then
        break
      end
      count, at = count + 1, e + 1
    end
    if count ~= 1 then
      die(2, string.format("fault %d no longer applies: its text stands %d times in %s (must be once):\n%s",
        n, count, f.file, f.find))
    end
    selected[#selected + 1] = { n = n, fault = f, file = f.file, original = text,
      tests = opts.full and { FULL } or f.tests }
  end
end

if #selected == 0 then
  die(2, "no fault selected (the list has " .. #faults .. ")")
end

-- ---- the copy ---------------------------------------------------------------------------------------
local dir = capture("mktemp -d /tmp/feedhost-mutation.XXXXXX"):gsub("%s+$", "")
local logs = dir .. "/mutation-logs"
local function cleanup()
  if opts.keep then
    io.stderr:write("mutation: kept ", dir, "\n")
  else
    sh("rm -rf " .. shq(dir))
  end
end
if not sh("cd " .. shq(root) .. " && git ls-files -z --cached --others --exclude-standard"
    .. " | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C " .. shq(dir)) then
  cleanup()
  die(2, "cannot copy the tree to " .. dir)
end
sh("mkdir -p " .. shq(logs))
local build = dir .. "/build"
io.stderr:write("mutation: building a copy in ", dir, "\n")
if not sh("cmake -S " .. shq(dir) .. " -B " .. shq(build) .. " -DCMAKE_BUILD_TYPE=RelWithDebInfo >"
    .. shq(logs .. "/configure.log") .. " 2>&1") then
  cleanup()
  die(2, "cmake configure failed: " .. logs .. "/configure.log")
end
local function make(logfile)
  return sh("cmake --build " .. shq(build) .. " -j1 >" .. shq(logfile) .. " 2>&1")
end
if not make(logs .. "/build.log") then
  io.stderr:write(read(logs .. "/build.log"))
  cleanup()
  die(2, "the unchanged copy does not build")
end

-- ---- running tests ----------------------------------------------------------------------------------
local BUSTED = capture("command -v busted"):gsub("%s+$", "")
if BUSTED == "" then
  cleanup()
  die(2, "busted is not installed")
end
local env = "FEEDHOST_BIN=" .. shq(build .. "/feedhost") .. " FEEDHOST_BUILD=" .. shq(build)

-- @return passed (boolean), how many tests ran (nil when unknown), seconds
local function run_test(t, logfile)
  local cmd
  if t.ctest then
    cmd = "cd " .. shq(build) .. " && ctest --output-on-failure --stop-on-failure -R "
      .. shq("^" .. t.ctest .. "$")
  else
    -- busted's own --lua re-runs it through a shell with the arguments joined unquoted: run it
    -- under luajit directly instead, so a filter may hold blanks and shell characters
    local parts = { "cd", shq(dir), "&&", env, "timeout -k 10", tostring(TEST_TIMEOUT),
      "luajit", shq(BUSTED), "--ignore-lua -o TAP", shq(t.busted) }
    local filters = type(t.filter) == "table" and t.filter or { t.filter }
    for _, pat in ipairs(filters) do
      parts[#parts + 1] = "--filter=" .. shq(pat)
    end
    cmd = table.concat(parts, " ")
  end
  local t0 = now()
  local ok = sh("(" .. cmd .. ") >" .. shq(logfile) .. " 2>&1 </dev/null")
  local secs = now() - t0
  local out = read(logfile)
  local ran
  if t.ctest then
    ran = out:match("tests passed, %d+ tests failed out of (%d+)")
  else
    ran = out:match("\n1%.%.(%d+)") or out:match("^1%.%.(%d+)")
  end
  return ok, tonumber(ran), secs
end

local function slug(s)
  return (s:gsub("[^%w]+", "_"):sub(1, 60))
end

if not opts.no_baseline then
  local seen = {}
  for _, s in ipairs(selected) do
    for _, t in ipairs(s.tests) do
      local label = test_label(t)
      if not seen[label] then
        seen[label] = true
        local logfile = logs .. "/baseline-" .. slug(label) .. ".log"
        local ok, ran, secs = run_test(t, logfile)
        io.stderr:write(string.format("mutation: baseline %-60s %s (%d tests, %.1fs)\n", label,
          ok and "passes" or "FAILS", ran or -1, secs))
        if not ok then
          io.stderr:write(read(logfile))
          cleanup()
          die(2, "the baseline fails: " .. label .. " (log " .. logfile .. ")")
        end
        if ran == 0 then
          cleanup()
          die(2, "test selection runs no test: " .. label)
        end
      end
    end
  end
end

-- ---- the faults -------------------------------------------------------------------------------------
local rows, caught, missed, broken = {}, 0, {}, {}
for _, s in ipairs(selected) do
  local f = s.fault
  local s1, e1 = s.original:find(f.find, 1, true)
  local path = dir .. "/" .. s.file
  write(path, s.original:sub(1, s1 - 1) .. f.replace .. s.original:sub(e1 + 1))
  local logbase = string.format("%s/fault-%02d", logs, s.n)
  local result, by, secs = nil, nil, 0
  if not make(logbase .. ".build.log") then
    result = "NOT BUILT"
  else
    for _, t in ipairs(s.tests) do
      local ok, _, dt = run_test(t, logbase .. "." .. slug(test_label(t)) .. ".log")
      secs = secs + dt
      if not ok then
        result, by = "caught", test_label(t)
        break
      end
    end
    result = result or "MISSED"
  end
  write(path, s.original)
  if result == "caught" then
    caught = caught + 1
  elseif result == "MISSED" then
    missed[#missed + 1] = s
  else
    broken[#broken + 1] = s
  end
  rows[#rows + 1] = { s.n, f.name, result, by or "", secs }
  io.stderr:write(string.format("mutation: fault %2d %-9s %s\n", s.n, result, f.name))
end
make(logs .. "/build-final.log")

-- ---- the table ----------------------------------------------------------------------------------------
print(string.format("%3s  %-84s  %-9s  %6s  %s", "#", "fault", "result", "secs", "caught by"))
for _, r in ipairs(rows) do
  print(string.format("%3d  %-84s  %-9s  %6.1f  %s", r[1], r[2], r[3], r[5], r[4]))
end
local total = #rows - #broken
local score = total > 0 and 100 * caught / total or 0
print(string.format("\nmutation score: %d of %d faults caught (%.0f%%)", caught, total, score))
if #missed > 0 then
  print("missed:")
  for _, s in ipairs(missed) do
    print(string.format("  %2d  %s (%s)", s.n, s.fault.name, s.fault.file))
  end
  if not opts.keep then
    print("(--keep keeps the copy and the test logs, mutation-logs/fault-NN.*)")
  end
end
if #broken > 0 then
  print("not built (fix the fault's patch):")
  for _, s in ipairs(broken) do
    print(string.format("  %2d  %s (%s; log %s/fault-%02d.build.log)", s.n, s.fault.name,
      s.fault.file, logs, s.n))
  end
end
cleanup()
if #broken > 0 then
  os.exit(2)
end
os.exit(score + 1e-9 >= opts.min and 0 or 1)
