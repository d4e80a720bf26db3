--- feedhost run: every connection of a spec live, records as NDJSON on stdout.
local args = require("feedhost.cli.args")

local M = { name = "run", npos = 1,
  options = { ["trusted-spec"] = "flag", assets = "value", ["assets-file"] = "value",
    credentials = "value", url = "list", record = "value", output = "value",
    ["log-level"] = "value", ["stats-interval"] = "value", connection = "value",
    ["ca-file"] = "value", insecure = "flag", once = "flag", ["record-secrets"] = "flag",
    ["output-wait"] = "value", ["output-buffer"] = "value", ["no-watch"] = "flag" } }

M.help = [[
usage: feedhost run SPEC [--assets A,B | --assets-file F] [--credentials FILE] [--url CONN=URL]
                    [--record FILE] [--output ndjson|none] [--log-level LEVEL]
                    [--stats-interval SECS] [--connection NAME] [--ca-file F] [--insecure] [--once]
                    [--record-secrets] [--trusted-spec] [--no-watch] [--output-wait SECS]
                    [--output-buffer MIB]

Connects every connection of SPEC (or only --connection NAME), authenticates, subscribes the
assets and prints records as NDJSON on stdout. Every --stats-interval seconds (default 5; 0: off)
one line per connection goes to stderr: state, frames/s, records/s, totals, errors, reconnects,
age of the last frame. Lost connections come back with backoff, auth and a full resubscription.

  --url CONN=URL     connect CONN to URL instead of the spec's (repeatable, or comma-separated)
  --record FILE      write every frame in and out as a capture that `feedhost replay` reads
                     (created readable by you only; credentials in it are written as ***)
  --record-secrets   write the credentials in the capture in clear
  --ca-file F        trust the CAs in F for wss:// (default: the system store)
  --insecure         do not verify server certificates
  --once             do not reconnect; exit when every connection has closed
  --trusted-spec     run the spec's code unconfined (files, processes): only for specs you trust
  --no-watch         do not reload the spec when its files change (SIGHUP still reloads)
  --output-buffer M  records waiting for stdout take at most M MiB (default 32)
  --output-wait S    when stdout falls behind (half the buffer waiting), stop reading the
                     sockets for at most S seconds (default 2); still behind: lines that do not
                     fit are dropped and counted (stats, log) until it catches up
A change of the spec file, of a registry module it loaded, of its master data file or of the
credentials file reloads the spec: compiled beside the running one, then swapped in connection by
connection (pipeline swapped, resubscribed, reconnected, opened or closed, as what changed asks);
a spec with an error is reported and the running one stays. SIGHUP reloads too.
SIGINT or SIGTERM closes the connections and exits 0 (also while stdout is blocked). A stdout
that goes away or fails ends the run with exit 1.
]]

--- A live host from the command line's options (shared by run, demo and bench-client).
-- extra: spec, credentials, urls, once, lenient_credentials, reactor, adjust, on_record, output,
-- log. @return host, or nil, exit code after printing why
function M.host(cmd, opts, extra)
  local symbols, aerr = args.assets(opts)
  if not symbols then
    return nil, args.report(cmd, aerr)
  end
  local urls, uerr = args.urls(opts.url)
  if not urls then
    return nil, args.report(cmd, uerr)
  end
  for k, v in pairs(extra.urls or {}) do
    urls[k] = v
  end
  local host, err, code = require("feedhost").new({
    spec = extra.spec, credentials = extra.credentials or opts.credentials, assets = symbols,
    urls = urls, log = extra.log, output = extra.output, on_record = extra.on_record, store = false,
    once = opts.once or extra.once, record = opts.record, record_secrets = opts["record-secrets"],
    connections = opts.connection and { opts.connection } or nil,
    tls = { ca_file = opts["ca-file"], insecure = opts.insecure }, signals = true,
    lenient_credentials = extra.lenient_credentials, reactor = extra.reactor, adjust = extra.adjust,
    trusted = opts["trusted-spec"], watch = extra.watch and not opts["no-watch"],
  })
  if not host then
    return nil, args.report(cmd, err, code)
  end
  return host
end

--- Runs `host` until a signal (or, with --once, until every connection closed); stats lines on
-- the log every `interval` seconds. @return 0, or 1 when the host failed (its output)
function M.drive(cmd, host, log, interval, duration)
  local ok, err = host:run({ stats_interval = interval, duration = duration, on_stats = function(lines)
    for _, line in ipairs(lines) do
      log:info("%s", line)
    end
  end })
  local cok, cerr = host:close()
  if not ok then
    return args.report(cmd, err, 1)
  end
  if not cok then
    return args.report(cmd, cerr, 1)
  end
  return 0
end

function M.run(opts, pos)
  local interval = tonumber(opts["stats-interval"] or "5")
  if not interval or interval < 0 then
    return args.report("run", "--stats-interval wants a number of seconds")
  end
  local log, lerr = args.logger(opts, "info")
  if not log then
    return args.report("run", lerr)
  end
  local output, oerr = args.ndjson_output(opts.output, log, opts)
  if oerr then
    return args.report("run", oerr)
  end
  local host, rc = M.host("run", opts, { spec = pos[1], log = log, watch = true, output = output })
  if not host then
    return rc
  end
  return M.drive("run", host, log, interval)
end

return M
