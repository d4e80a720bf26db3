--- feedhost.cli: the `feedhost` command (host/main.c calls M.main(args) and exits with its
-- result). One module per command under feedhost.cli, each a thin user of the public API
-- (`require "feedhost"`). Exit codes: 0 done, 1 runtime failure, 2 usage or spec error.
local args = require("feedhost.cli.args")

local M = {}

local COMMANDS = {
  check = "feedhost.cli.check", replay = "feedhost.cli.replay", run = "feedhost.cli.run",
  demo = "feedhost.cli.demo", simulate = "feedhost.cli.simulate", bench = "feedhost.cli.bench",
  ["bench-client"] = "feedhost.cli.bench_client",
}

local USAGE = [[
usage: feedhost <command> [options]

commands:
  check SPEC [--assets A,B] [--credentials F]
        validate a spec; list its connections and print the exact frames it would send
  replay SPEC CAPTURE [--connection NAME] [--assets A,B] [--credentials F] [--output ndjson|none]
        run captured frames through the compiled pipeline; records as NDJSON on stdout,
        a summary on stderr
  run SPEC [--assets A,B] [--credentials F] [--url CONN=URL] [--record F] [--output ndjson|none]
        every connection of the spec live: records as NDJSON on stdout, stats on stderr
  demo [--rate N] [--assets A,B] [--output ndjson|none]
        a local Alpaca-protocol simulator and specs/alpaca.lua streaming from it
  simulate [--port N] [--rate N]
        only the simulator: a WebSocket server speaking Alpaca's market-data protocol
  bench SPEC POOL [N] [--assets A,B]
        replay benchmark: N messages (one per line of POOL) through the pipeline, in memory
  bench-client --port N [--path P]
        live benchmark: the `custom` client of ../shared/bench/run.sh
  help [COMMAND]

Run `feedhost COMMAND --help` for the options of one command.
Credentials come from --credentials (a Lua file returning a table, or a JSON object) or the
environment: <NAME>_<FIELD>, e.g. ALPACA_API_KEY.
]]

function M.main(argv)
  local name = argv[1]
  local rest = { unpack(argv, 2) }
  if name == nil or name == "help" or name == "--help" or name == "-h" then
    local cmd = rest[1] and COMMANDS[rest[1]] and require(COMMANDS[rest[1]])
    io.stdout:write(cmd and cmd.help or USAGE)
    return name == nil and 2 or 0
  end
  if name == "--version" or name == "version" then
    io.stdout:write("feedhost ", require("feedhost.core").version, "\n")
    return 0
  end
  if not COMMANDS[name] then
    args.stderr("feedhost: unknown command '%s'\n%s", name, USAGE)
    return 2
  end
  -- The feed's live heap is small and steady (stores, compiled pipelines) while records come and
  -- go by the million: collecting at 4x instead of 2x the live size halves the GC's marking
  -- and sweeping for the same peak of a few MB. (An embedding application keeps its own policy.)
  collectgarbage("setpause", 400)
  local ok, rc = xpcall(function()
    local cmd = require(COMMANDS[name])
    local opts, pos = args.parse(cmd, rest)
    if not opts then
      return pos
    end
    return cmd.run(opts, pos)
  end, debug.traceback)
  if not ok then
    args.stderr("feedhost %s: internal error: %s", name, tostring(rc))
    return 1
  end
  return rc
end

return M
