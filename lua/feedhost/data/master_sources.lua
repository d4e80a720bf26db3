--- feedhost.data.master_sources: where master data rows come from (files, inline rows, loaders),
-- and how a document of a real API becomes rows.
--
-- API
--   M.load(md, opts)          -> rows, origins: the raw rows of master data table `md`, and for
--                                each row where it came from ("x.json row 3"), for error messages
--   M.key_path(s)             -> list of keys (strings, or numbers for [n]), or nil, message
--   M.select(doc, path)       -> the node of `doc` at key path `path` (a list of keys), or nil, key
--   M.rows_of(node, key, where) -> rows: a document node turned into rows (see below)
--
-- `md` (DESIGN.md section 3, with the README's additions) gives exactly one of
--   file    = "x.csv" | { "a.json", "b.json" }   files beside the spec (or absolute), merged in
--                                                  order; format from the extension or `format`
--   rows    = { {...}, ... }                      inline rows
--   custom  = "loader" | function(ctx)            a loader (the contract is below)
--   sources = { {file=...|rows=...|custom=..., format, path, key, delimiter}, ... }
--             several sources merged in order, each with its own options (inherited from md when
--             not given)
-- and for JSON documents:
--   path    = "result.list" | "[1]" | function(doc)   where the rows are: a key path of member
--             names and [n] indices (1-based), or a function of the decoded document (a spec's
--             expression of `doc` is compiled into one by feedhost.spec.universes). Without a
--             path the document must be a list, or an object with a `data` list.
--   key     = "pair"   the column that receives the member name when the rows are an object of
--             objects (Kraken's AssetPairs `result`); default "key"
-- A node that is a list of objects gives one row per object; a list of scalars one row
-- {value = v} per scalar (Bitfinex's pair lists); an object one row per member, sorted by name:
-- an object member gets the name in its `key` column, a scalar member becomes {key = name,
-- value = v}. JSON null reads as absent.
--
-- The loader contract: a `custom` loader is called as loader(ctx) with
--   ctx.credentials, ctx.broker     as in expressions (broker.logger to log)
--   ctx.universe                    the name of the universe being built ("default" for
--                                   master_data)
--   ctx.dir                         the spec's directory
--   ctx.read_file(rel)              the text of a file beside the spec (raises when unreadable)
--   ctx.json_decode(text)           a JSON document as Lua values (null: absent)
--   ctx.parse_csv(text, delimiter)  CSV text as rows keyed by the header
-- and returns a list of rows, a document table (`path` then applies), or text (parsed by
-- `format`, default "csv", then `path`); nil, message (or raising) fails the load with the
-- message.
--
-- Errors raise a string naming the key: "master_data.file[2]: cannot open 'x.json': ...".
-- opts: { base_dir, registry, ctx, where = "master_data" (the key path errors start with),
--         read = function(path) -> text | nil, err (default: io.open) }
local master = require("feedhost.data.master")
local json = require("feedhost.util.json")
local util_text = require("feedhost.util.text")

local M = {}

local type, tostring, pairs, ipairs, next, getmetatable, error, pcall =
  type, tostring, pairs, ipairs, next, getmetatable, error, pcall
local sformat, ssub, slower, smatch = string.format, string.sub, string.lower, string.match
local concat = table.concat
local show = util_text.show

local FORMAT_BY_EXT = { csv = "csv", txt = "csv", tsv = "csv", json = "json" }
local OPTIONS = { "format", "path", "key", "delimiter" }

--- Parses a key path: `result.list`, `data[1]`, `[1]`, `result["XXBTZUSD"].tick_size`.
-- @return list of keys (strings; numbers for [n]), or nil, message
function M.key_path(s)
  if type(s) ~= "string" or s == "" then
    return nil, "expected a key path like 'result.list'"
  end
  local keys, i, n = {}, 1, #s
  local want_name = true -- at the start or after a '.'
  while i <= n do
    local name = smatch(s, "^[%a_][%w_%-]*", i)
    if name and want_name then
      keys[#keys + 1] = name
      i = i + #name
      want_name = false
    elseif ssub(s, i, i) == "[" and (i == 1 or not want_name) then
      local num = smatch(s, "^%[(%d+)%]", i)
      local q = not num and smatch(s, '^%["([^"]*)"%]', i)
      if num and tonumber(num) >= 1 then
        keys[#keys + 1] = tonumber(num)
        i = i + #num + 2
      elseif q then
        keys[#keys + 1] = q
        i = i + #q + 4
      else
        return nil, "bad index at " .. show(ssub(s, i)) .. " (use [n], n >= 1, or [\"name\"])"
      end
      want_name = false
    elseif ssub(s, i, i) == "." and not want_name and i < n then
      i = i + 1
      want_name = true
    else
      return nil, "not a key path at " .. show(ssub(s, i))
        .. " (member names separated by '.', [n] indices)"
    end
  end
  return keys
end

--- The node of `doc` at `keys`. @return node, or nil and the key path that was missing
function M.select(doc, keys)
  local node = doc
  for i, k in ipairs(keys) do
    if type(node) ~= "table" or node[k] == nil then
      local shown = {}
      for j = 1, i do
        shown[j] = type(keys[j]) == "number" and ("[" .. keys[j] .. "]") or keys[j]
      end
      return nil, (concat(shown, "."):gsub("%.%[", "["))
    end
    node = node[k]
  end
  return node
end

local function is_list(t)
  return t[1] ~= nil or next(t) == nil
end

-- the members of an object, sorted by name
local function sorted_members(t)
  return json.sorted_keys(t)
end

--- A document node as rows (see the module header). `key`: the column for member names.
function M.rows_of(node, key, where)
  key = key or "key"
  if type(node) ~= "table" then
    error(sformat("%s: expected a list or an object of rows, got %s", where, type(node)), 0)
  end
  local rows = {}
  if is_list(node) then
    for i = 1, #node do
      local v = node[i]
      rows[i] = type(v) == "table" and v or { value = v }
    end
    return rows
  end
  for _, name in ipairs(sorted_members(node)) do
    local v = node[name]
    local row
    if type(v) == "table" then
      if v[key] ~= nil then
        error(sformat("%s: member %s already has a column %s: name another one with key = ...",
          where, show(name), show(key)), 0)
      end
      row = v
      row[key] = name
    else
      row = { [key] = name, value = v }
    end
    rows[#rows + 1] = row
  end
  return rows
end

-- JSON null -> absent, in every row
local function drop_nulls(rows, null)
  for i = 1, #rows do
    local row = rows[i]
    if type(row) == "table" then
      for k, v in pairs(row) do
        if v == null then
          row[k] = nil
        end
      end
    end
  end
end

local function check_rows(rows, where)
  if type(rows) ~= "table" then
    error(where .. ": expected a list of rows, got " .. type(rows), 0)
  end
  for i = 1, #rows do
    if type(rows[i]) ~= "table" then
      error(sformat("%s[%d]: expected a table, got %s", where, i, type(rows[i])), 0)
    end
  end
  return rows
end

-- The rows of a decoded document (path, key) or of a table a loader returned.
local function rows_of_doc(doc, src, base, where, null)
  local path = src.path
  local node = doc
  if type(path) == "function" then
    local ok, v = pcall(path, doc)
    if not ok then
      error(base .. ".path: " .. tostring(v), 0)
    end
    node = v
    if node == nil then
      error(sformat("%s.path: yields nothing in %s", base, where), 0)
    end
  elseif path ~= nil then
    local keys, perr = M.key_path(path)
    if not keys then
      error(base .. ".path: " .. perr, 0)
    end
    local missing
    node, missing = M.select(doc, keys)
    if node == nil then
      local top = type(doc) == "table" and not is_list(doc) and sorted_members(doc) or nil
      error(sformat("%s.path: %s has no %s%s", base, where, show(missing),
        top and (" (its top-level members: " .. concat(top, ", ") .. ")") or ""), 0)
    end
  elseif type(doc) == "table" and not is_list(doc) then
    if type(doc.data) == "table" and is_list(doc.data) then
      node = doc.data
    else
      error(sformat("%s: expected a JSON array of rows, or an object with a 'data' array; this"
        .. " is an object with members %s: give %s.path (e.g. path = %s)", where,
        concat(sorted_members(doc), ", "), base, show(sorted_members(doc)[1])), 0)
    end
  end
  local rows = M.rows_of(node, src.key, where)
  drop_nulls(rows, null)
  return rows
end

-- JSON null: an object's member is absent, an array's element is json.null (dropped by the callers)
local function decode_json(text, where)
  local doc, err = json.decode_safe(text)
  if err then
    error(where .. ": " .. err, 0)
  end
  return doc, json.null
end

local function rows_of_text(text, fmt, src, base, where)
  if fmt == "csv" then
    return master.parse_csv(text, src.delimiter, where)
  elseif fmt == "json" then
    local doc, null = decode_json(text, where)
    return rows_of_doc(doc, src, base, where, null)
  end
  error(base .. ".format: expected 'csv' or 'json', got " .. show(fmt), 0)
end

local function default_read(path)
  local f, err = io.open(path, "rb")
  if not f then
    -- a file the feedhost command embeds (specs/kite_instruments.csv), or the module's copy
    local text = require("feedhost.sys.ffi").resource((path:gsub("^%./", "")))
    if text then
      return text
    end
    err = tostring(err)
    if ssub(err, 1, #path + 2) == path .. ": " then
      err = ssub(err, #path + 3)
    end
    return nil, err
  end
  local text, rerr = f:read("*a")
  f:close()
  if text == nil then
    return nil, tostring(rerr)
  end
  return text
end

local function beside(base_dir, file)
  if ssub(file, 1, 1) == "/" or not base_dir or base_dir == "" then
    return file
  end
  return (ssub(base_dir, -1) == "/" and base_dir or (base_dir .. "/")) .. file
end

-- the rows of one file of a source
local function file_rows(file, src, key, opts, out, origins)
  if type(file) ~= "string" or file == "" then
    error(key .. ": expected a path string", 0)
  end
  local path = beside(opts.base_dir, file)
  local ext = smatch(file, "%.([%w]+)$")
  ext = ext and slower(ext)
  local fmt = src.format or (ext and FORMAT_BY_EXT[ext])
  local base = opts.where
  if fmt == nil then
    error(base .. ".format: cannot tell the format of '" .. file
      .. "' from its name; give format = \"csv\" or \"json\"", 0)
  end
  local text, err = (opts.read or default_read)(path)
  if not text then
    error(key .. ": cannot open '" .. path .. "': " .. tostring(err), 0)
  end
  local s = src
  if src.delimiter == nil and ext == "tsv" then
    s = setmetatable({ delimiter = "\t" }, { __index = src })
  end
  local rows = rows_of_text(text, fmt, s, base, key .. ": '" .. file .. "'")
  for i = 1, #rows do
    out[#out + 1] = rows[i]
    origins[#out] = file .. " row " .. i
  end
end

-- the context a custom loader gets (the module header has the contract)
local function loader_ctx(opts)
  local ctx = {}
  for k, v in pairs(opts.ctx or {}) do
    ctx[k] = v
  end
  ctx.universe = ctx.universe or opts.universe or "default"
  ctx.dir = opts.base_dir or "."
  ctx.read_file = function(rel)
    local sandbox = require("feedhost.spec.sandbox")
    local path, perr = sandbox.beside(opts.base_dir or ".", rel)
    if not path then
      error("read_file: " .. perr, 2)
    end
    local text, err = (opts.read or default_read)(path)
    if not text then
      error("read_file: cannot read '" .. tostring(rel) .. "' beside the spec: " .. tostring(err), 2)
    end
    return text
  end
  ctx.json_decode = function(text)
    local doc, null = decode_json(text, "json_decode")
    local function strip(v)
      if type(v) == "table" then
        for k, x in pairs(v) do
          if x == null then
            v[k] = nil
          else
            strip(x)
          end
        end
      end
      return v
    end
    return strip(doc)
  end
  ctx.parse_csv = function(text, delimiter)
    return master.parse_csv(text, delimiter, "parse_csv")
  end
  return ctx
end

local function custom_rows(src, key, opts, out, origins)
  local custom = src.custom
  local fn, label = custom, key
  if type(custom) == "string" then
    fn = opts.registry and opts.registry[custom]
    if fn == nil then
      error(key .. ": no registry function '" .. custom .. "'", 0)
    end
    label = key .. ": loader '" .. custom .. "'"
  end
  if type(fn) ~= "function" and not (getmetatable(fn) and getmetatable(fn).__call) then
    error(key .. ": expected a function or a registry name, got " .. type(fn), 0)
  end
  local ok, res, err = pcall(fn, loader_ctx(opts))
  if not ok then
    error(label .. " failed: " .. tostring(res), 0)
  end
  if res == nil then
    error(label .. " failed: " .. tostring(err or "returned nothing"), 0)
  end
  local rows
  if type(res) == "string" then
    rows = rows_of_text(res, src.format or "csv", src, opts.where, label)
  elseif type(res) == "table" and (src.path ~= nil or not is_list(res)) then
    rows = rows_of_doc(res, src, opts.where, label)
  else
    rows = check_rows(res, label)
  end
  local name = type(custom) == "string" and custom or "loader"
  for i = 1, #rows do
    out[#out + 1] = rows[i]
    origins[#out] = name .. " row " .. i
  end
end

-- Appends the rows of source `src` (a master data table or one of its `sources`) at `base`.
local function load_source(src, base, opts, out, origins)
  local given = {}
  for _, k in ipairs({ "file", "rows", "custom" }) do
    if src[k] ~= nil then
      given[#given + 1] = k
    end
  end
  if #given ~= 1 then
    error(base .. ": give exactly one of file, rows, custom"
      .. (src == opts.md and ", sources" or "")
      .. (#given > 1 and (" (got " .. concat(given, ", ") .. ")") or ""), 0)
  end
  if src.format ~= nil and src.format ~= "csv" and src.format ~= "json" then
    error(base .. ".format: expected 'csv' or 'json', got " .. show(src.format), 0)
  end
  local o = setmetatable({ where = base }, { __index = opts })
  if src.file ~= nil then
    if type(src.file) == "table" then
      for i, file in ipairs(src.file) do
        file_rows(file, src, base .. ".file[" .. i .. "]", o, out, origins)
      end
    else
      file_rows(src.file, src, base .. ".file", o, out, origins)
    end
  elseif src.rows ~= nil then
    local rows = check_rows(src.rows, base .. ".rows")
    for i = 1, #rows do
      out[#out + 1] = rows[i]
      origins[#out] = "rows[" .. i .. "]"
    end
  else
    custom_rows(src, base .. ".custom", o, out, origins)
  end
end

--- Loads the raw rows of master data table `md` (see the module header).
-- @return rows, origins (origins[i]: where row i came from)
function M.load(md, opts)
  opts = opts or {}
  local where = opts.where or "master_data"
  if type(md) ~= "table" then
    error(where .. ": expected a table, got " .. type(md), 0)
  end
  local o = setmetatable({ where = where, md = md }, { __index = opts })
  local rows, origins = {}, {}
  if md.sources ~= nil then
    if md.file ~= nil or md.rows ~= nil or md.custom ~= nil then
      error(where .. ": give exactly one of file, rows, custom, sources", 0)
    end
    for i, src in ipairs(md.sources) do
      local base = where .. ".sources[" .. i .. "]"
      if type(src) ~= "table" then
        error(base .. ": expected a table, got " .. type(src), 0)
      end
      -- options not given by the source come from the master data table
      local s = setmetatable({}, { __index = function(_, k)
        local v = rawget(src, k)
        if v == nil then
          for _, opt in ipairs(OPTIONS) do
            if opt == k then
              return md[k]
            end
          end
        end
        return v
      end })
      load_source(s, base, o, rows, origins)
    end
  else
    load_source(md, where, o, rows, origins)
  end
  return rows, origins
end

return M
