-- The table of spec/bench/latency/run.sh from its results (JSON lines, each with its rate):
--   luajit spec/bench/latency/summary.lua RESULTS.jsonl SECS
local path, secs = arg[1], arg[2] or "?"
local by, order = {}, {}
for line in io.lines(path) do
  local t = {}
  for k, v in line:gmatch('"([%w_]+)":"?([^,"}]*)') do
    t[k] = v
  end
  local r = by[t.rate]
  if not r then
    r = { probes = {} }
    by[t.rate] = r
    order[#order + 1] = t.rate
  end
  if t.role == "probe" then
    r.probes[#r.probes + 1] = t
  else
    r[t.role] = t
  end
end

local function q(r, p)
  return string.format("%8s %8s %8s %8s", r[p .. "p50_us"] or "-", r[p .. "p99_us"] or "-",
    r[p .. "p999_us"] or "-", r[p .. "max_us"] or "-")
end

print(string.format("\n%-7s %9s %7s  %-35s", "msg/s", "records", "missing",
  "    p50      p99    p99.9      max (us, send -> line read)"))
for _, rate in ipairs(order) do
  local r = by[rate]
  local m, g, c = r.meter or {}, r.gen or {}, r.cpu or {}
  print(string.format("%-7s %9s %7s  %s", rate, m.records or "?", m.missing or "?", q(m, "")))
  if m.rx_p50_us then
    print(string.format("%-25s  %s  send -> received by the host", "", q(m, "rx_")))
    print(string.format("%-25s  %s  received -> line read", "", q(m, "out_")))
  end
  print(string.format("%-25s  generator: %s msg/s in %s writes, at most %s us behind its schedule",
    "", g.msg_per_s or "?", g.writes or "?", g.lag_max_us or "?"))
  print(string.format("%-25s  CPU-seconds: feedhost + meter %s, generator %s, other processes %s,"
    .. " steal %s", "", c.feedhost_meter_s or "?", c.gen_s or "?", c.others_s or "?",
    c.steal_s or "?"))
  for _, p in ipairs(r.probes) do
    print(string.format("%-25s  before: a process spinning %ss on %s did not run for %s ms"
      .. " (%s gaps > 100 us, %s > 1 ms, max %s us)", "", p.secs, p.label, p.lost_ms,
      p.gaps_100us, p.gaps_1ms, p.max_us))
  end
end
print(string.format("(%s s measured per rate after the warm-up)", secs))
