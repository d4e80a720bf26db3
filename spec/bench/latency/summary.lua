-- The table of spec/bench/latency/run.sh from its results (JSON lines, each with its rate and
-- client):   luajit spec/bench/latency/summary.lua RESULTS.jsonl SECS
local path, secs = arg[1], arg[2] or "?"
local rates, by_rate = {}, {}
for line in io.lines(path) do
  local t = {}
  for k, v in line:gmatch('"([%w_]+)":"?([^,"}]*)') do
    t[k] = v
  end
  local r = by_rate[t.rate]
  if not r then
    r = { probes = {}, impls = {}, by_impl = {} }
    by_rate[t.rate] = r
    rates[#rates + 1] = t.rate
  end
  if t.role == "probe" then
    r.probes[#r.probes + 1] = t
  else
    local c = r.by_impl[t.impl]
    if not c then
      c = {}
      r.by_impl[t.impl] = c
      r.impls[#r.impls + 1] = t.impl
    end
    c[t.role] = t
  end
end

local function q(m, p)
  return string.format("%8s %8s %8s %8s", m[p .. "p50_us"] or "-", m[p .. "p99_us"] or "-",
    m[p .. "p999_us"] or "-", m[p .. "max_us"] or "-")
end

print(string.format("\n%-7s %-9s %9s %7s  %s", "msg/s", "client", "records", "missing",
  "     p50      p99    p99.9      max  (us, send -> line read)"))
for _, rate in ipairs(rates) do
  local r = by_rate[rate]
  for _, impl in ipairs(r.impls) do
    local c = r.by_impl[impl]
    local m, g, u = c.meter or {}, c.gen or {}, c.cpu or {}
    print(string.format("%-7s %-9s %9s %7s  %s", rate, impl, m.records or "?", m.missing or "?",
      q(m, "")))
    if m.rx_p50_us then
      print(string.format("%-35s  %s  send -> received by the host", "", q(m, "rx_")))
      print(string.format("%-35s  %s  received -> line read", "", q(m, "out_")))
    end
    print(string.format("%-35s  generator: %s msg/s in %s writes (at most %s us behind);"
      .. " CPU-s: client + meter %s, generator %s, others %s, steal %s", "", g.msg_per_s or "?",
      g.writes or "?", g.lag_max_us or "?", u.client_meter_s or "?", u.gen_s or "?",
      u.others_s or "?", u.steal_s or "?"))
  end
  for _, p in ipairs(r.probes) do
    print(string.format("%-35s  before: a process spinning %s s on %s did not run for %s ms"
      .. " (%s gaps > 100 us, %s > 1 ms, max %s us)", "", p.secs, p.label, p.lost_ms,
      p.gaps_100us, p.gaps_1ms, p.max_us))
  end
end
print(string.format("(%s s measured per rate and client after the warm-up)", secs))
