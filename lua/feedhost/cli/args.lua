--- feedhost.cli.args: what every command shares: its options parsed, --help answered, the
-- positional arguments counted, and the small option formats (lists, CONN=URL pairs, assets).
local M = {}

function M.stderr(fmt, ...)
  io.stderr:write(string.format(fmt, ...), "\n")
end

-- flags with values; positional arguments in order. spec: name -> "value" | "flag" | "list"
local function parse(args, spec)
  local opts, pos = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then
      opts.help = true
    elseif a:sub(1, 2) == "--" then
      local k, v = a:match("^%-%-([%w%-]+)=(.*)$")
      k = k or a:sub(3)
      local kind = spec[k]
      if not kind then
        return nil, "unknown option --" .. k
      end
      if kind == "flag" then
        opts[k] = true
      else
        if not v then
          i = i + 1
          v = args[i]
          if v == nil then
            return nil, "option --" .. k .. " needs a value"
          end
        end
        if kind == "list" then
          opts[k] = opts[k] or {}
          table.insert(opts[k], v)
        else
          opts[k] = v
        end
      end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return opts, pos
end

--- Parses the arguments of command `cmd` (a module: name, help, options, npos = exact count or
-- {min = n}). --output, when the command has it, must be ndjson or none (default ndjson).
-- @return opts, pos; or nil, exit code after printing why
function M.parse(cmd, args)
  local opts, pos = parse(args, cmd.options)
  if not opts then
    M.stderr("feedhost %s: %s", cmd.name, pos)
    return nil, 2
  end
  if opts.help then
    io.stdout:write(cmd.help)
    return nil, 0
  end
  local npos = cmd.npos or 0
  local want_min = type(npos) == "table" and npos.min or npos
  if (type(npos) == "number" and #pos ~= npos) or #pos < want_min then
    io.stderr:write(cmd.help)
    return nil, 2
  end
  if cmd.options.output then
    opts.output = opts.output or "ndjson"
    if opts.output ~= "ndjson" and opts.output ~= "none" then
      M.stderr("feedhost %s: --output must be ndjson or none", cmd.name)
      return nil, 2
    end
  end
  return opts, pos
end

--- The logger of --log-level (default `dflt`). @return logger, or nil, message
function M.logger(opts, dflt)
  local level = opts["log-level"] or dflt
  local log = require("feedhost.util.log")
  if not log.levels[level] and level ~= "warn" and level ~= "err" then
    return nil, "--log-level must be one of debug, info, warning, error, none (got " .. tostring(level) .. ")"
  end
  return log.new({ level = level })
end

--- "A,B C" -> {"A", "B", "C"}
function M.split_list(s)
  local out = {}
  for x in (s or ""):gmatch("[^,%s]+") do
    out[#out + 1] = x
  end
  return out
end

--- The symbols of --assets and --assets-file (one or more per line, # comments).
-- @return list, or nil, message
function M.assets(opts)
  local list = M.split_list(opts.assets)
  if opts["assets-file"] then
    local text, err = require("feedhost.util.files").read(opts["assets-file"])
    if not text then
      return nil, "--assets-file: " .. err
    end
    for line in text:gmatch("[^\n]+") do
      for _, x in ipairs(M.split_list(line:gsub("#.*", ""))) do
        list[#list + 1] = x
      end
    end
  end
  return list
end

--- "a=ws://x,b=ws://y" (and repeated --url) -> {a = url, b = url}; or nil, message
function M.urls(list)
  local out = {}
  for _, item in ipairs(list or {}) do
    for part in item:gmatch("[^,]+") do
      local k, v = part:match("^%s*([%w_%-]+)=(.+)$")
      if not k then
        return nil, "--url wants CONN=URL, got " .. part
      end
      out[k] = v
    end
  end
  return out
end

--- Prints a failure of the public API (a multi-line spec error as it is). @return code
function M.report(cmd, err, code)
  if tostring(err):find("\n", 1, true) then
    io.stderr:write(err, "\n")
  else
    M.stderr("feedhost %s: %s", cmd, tostring(err))
  end
  return code or 2
end

--- The NDJSON output of records (`--output ndjson`): lines buffered, written at each flush.
-- A record that cannot be written as JSON (a number that is not finite, say) is counted and
-- logged, never a hole in the output; a write that fails (a closed or broken stdout, a full
-- disk) is the flush's error. @return { write = fn(rec), flush = fn() -> true | nil, err }, or
-- nil for --output none
--- The NDJSON output on stdout for `--output ndjson` (feedhost.runtime.output), or nil.
-- opts: the command's options (`output-wait` seconds, `output-buffer` MiB); wait: the default
-- of output-wait. @return output, or nil (none), or nil, message
function M.ndjson_output(kind, log, opts, wait)
  if kind ~= "ndjson" then
    return nil
  end
  opts = opts or {}
  wait = tonumber(opts["output-wait"] or wait or "2")
  local mib = tonumber(opts["output-buffer"] or "32")
  if not wait or wait < 0 then
    return nil, "--output-wait wants a number of seconds"
  end
  if not mib or mib < 1 or mib > 4096 then
    return nil, "--output-buffer wants a size in MiB (1 to 4096)"
  end
  return require("feedhost.runtime.output").ndjson({ fd = 1, name = "stdout", log = log,
    wait = wait, limit = math.floor(mib * 1048576) })
end

return M
