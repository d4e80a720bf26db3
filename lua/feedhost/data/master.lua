--- feedhost.data.master: master data loading: the raw rows a universe is built from.
--
-- API
--   M.parse_csv(text, delimiter, where) -> list of rows (column -> string); `where` prefixes errors
--   M.load_master(md, opts)    -> list of raw rows; `md` is the spec's `master_data` table:
--                                 a CSV or JSON file, inline rows, or a custom loader (see below)
--
-- Errors: misuse (bad arguments, bad master_data) raises a string naming the key:
--   "master_data.file: cannot open 'x.csv': No such file or directory".
-- Turning rows into assets (master_data.fields, master_data.filter) is the job of
-- feedhost.data.universe.
local util_text = require("feedhost.util.text")

local M = {}

local type, tostring, pairs, ipairs, next, getmetatable, error, pcall =
  type, tostring, pairs, ipairs, next, getmetatable, error, pcall
local sfind, ssub, sbyte, sformat, slower, smatch =
  string.find, string.sub, string.byte, string.format, string.lower, string.match
local concat = table.concat
local show = util_text.show
local ok_new, table_new = pcall(require, "table.new")
if not ok_new then table_new = function() return {} end end

-- ---------------------------------------------------------------------------------------------
-- CSV (RFC 4180, lenient about line endings)
-- ---------------------------------------------------------------------------------------------

local function line_of(text, pos)
  local n = 1
  local i = 0
  while true do
    i = sfind(text, "\n", i + 1, true)
    if i == nil or i >= pos then return n end
    n = n + 1
  end
end

--- Parses CSV text into rows keyed by the header row. Handles quoted fields (with the delimiter,
--- CR/LF and doubled quotes inside), CRLF or LF line ends, a UTF-8 BOM, blank lines (skipped) and
--- a missing final newline. Columns with an empty header name are dropped. A row with a different
--- number of fields than the header raises.
---@param text string
---@param delimiter string|nil one character, default ","
---@param where string|nil error prefix, e.g. "master_data.file: 'x.csv'"
---@return table rows
function M.parse_csv(text, delimiter, where)
  delimiter = delimiter or ","
  where = where or "csv"
  if type(delimiter) ~= "string" or #delimiter ~= 1 or delimiter == '"'
    or delimiter == "\n" or delimiter == "\r" then
    error(where .. ": delimiter must be one character (not a quote or newline)", 0)
  end
  local dbyte = sbyte(delimiter)
  local len = #text
  local pos = 1
  if ssub(text, 1, 3) == "\239\187\191" then pos = 4 end

  local function fail(msg, at)
    error(sformat("%s line %d: %s", where, line_of(text, at), msg), 0)
  end

  -- Line ends: "\n" or "\r\n"; a lone "\r" too when the text has one (then a pattern search).
  local find_eol
  if sfind(text, "\r[^\n]", pos) ~= nil or sbyte(text, len) == 13 then
    find_eol = function(p) return sfind(text, "[\r\n]", p) or (len + 1) end
  else
    find_eol = function(p)
      local e = sfind(text, "\n", p, true)
      if e == nil then return len + 1 end
      if e > p and sbyte(text, e - 1) == 13 then return e - 1 end
      return e
    end
  end
  -- cached positions of the next delimiter and line end: no search rescans the text
  local next_d, next_eol = 0, 0
  local rec = {}

  -- Reads one record at p into rec; returns its field count (0 for a blank line) and the
  -- position after its line end.
  local function read_record(p)
    local n = 0
    while true do
      if sbyte(text, p) == 34 then -- quoted field
        local parts, np = nil, 0
        local s = p + 1
        while true do
          local q = sfind(text, '"', s, true)
          if q == nil then fail("unterminated quoted field", p) end
          if sbyte(text, q + 1) == 34 then
            np = np + 1
            parts = parts or {}
            parts[np] = ssub(text, s, q) -- keeps one quote
            s = q + 2
          else
            n = n + 1
            if parts then
              parts[np + 1] = ssub(text, s, q - 1)
              rec[n] = concat(parts)
            else
              rec[n] = ssub(text, s, q - 1)
            end
            p = q + 1
            break
          end
        end
        local c = sbyte(text, p)
        if c == dbyte then
          p = p + 1
        elseif c == nil then
          return n, p
        elseif c == 10 then
          return n, p + 1
        elseif c == 13 then
          if sbyte(text, p + 1) == 10 then return n, p + 2 end
          return n, p + 1
        else
          fail("unexpected character after a closing quote", p)
        end
      else
        if next_d < p then next_d = sfind(text, delimiter, p, true) or (len + 1) end
        if next_eol < p then next_eol = find_eol(p) end
        n = n + 1
        if next_d < next_eol then
          rec[n] = ssub(text, p, next_d - 1)
          p = next_d + 1
        else
          local e = next_eol
          rec[n] = ssub(text, p, e - 1)
          if n == 1 and e == p then n = 0 end -- blank line
          if sbyte(text, e) == 13 and sbyte(text, e + 1) == 10 then return n, e + 2 end
          return n, e + 1
        end
      end
    end
  end

  -- header
  local ncol = 0
  while pos <= len and ncol == 0 do
    ncol, pos = read_record(pos)
  end
  if ncol == 0 then return {} end
  local header = {}
  for i = 1, ncol do
    local h = rec[i]
    if h ~= "" then
      for j = 1, i - 1 do
        if header[j] == h then fail("duplicate column '" .. h .. "'", 1) end
      end
    end
    header[i] = h
  end

  local rows, nrows = {}, 0
  while pos <= len do
    local start = pos
    local n
    n, pos = read_record(pos)
    if n > 0 then
      if n ~= ncol then
        fail(sformat("%d fields, the header has %d", n, ncol), start)
      end
      local row = table_new(0, ncol)
      for i = 1, ncol do
        local h = header[i]
        if h ~= "" then row[h] = rec[i] end
      end
      nrows = nrows + 1
      rows[nrows] = row
    end
  end
  return rows
end
local parse_csv = M.parse_csv

-- ---------------------------------------------------------------------------------------------
-- JSON
-- ---------------------------------------------------------------------------------------------

local function rows_from_json(text, where)
  local cjson = require "cjson"
  local ok, doc = pcall(cjson.decode, text)
  if not ok then
    error(where .. ": invalid JSON: " .. tostring(doc), 0)
  end
  local null = cjson.null
  local list = doc
  if type(doc) == "table" and doc.data ~= nil then list = doc.data end
  if type(list) ~= "table" or (next(list) ~= nil and list[1] == nil) then
    error(where .. ": expected a JSON array of objects, or an object with a 'data' array", 0)
  end
  local n = #list
  for i = 1, n do
    local row = list[i]
    if type(row) ~= "table" then
      error(sformat("%s: element %d is not an object", where, i), 0)
    end
    for k, v in pairs(row) do
      if v == null then row[k] = nil end
    end
  end
  return list
end

-- ---------------------------------------------------------------------------------------------
-- load_master
-- ---------------------------------------------------------------------------------------------

local FORMAT_BY_EXT = { csv = "csv", txt = "csv", tsv = "csv", json = "json" }

local function is_absolute(path)
  return ssub(path, 1, 1) == "/"
end

local function rows_from_text(text, fmt, md, where)
  if fmt == "csv" then
    return parse_csv(text, md.delimiter, where)
  elseif fmt == "json" then
    return rows_from_json(text, where)
  end
  error("master_data.format: expected 'csv' or 'json', got " .. show(fmt), 0)
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

--- Loads master data rows. `md` is the spec's `master_data` table; exactly one of:
---   file = path (relative to opts.base_dir), with format = "csv"|"json" (default: from the
---          extension; .tsv means a tab delimiter) and delimiter (CSV, default ",");
---   rows = inline list of tables;
---   custom = function(ctx) or a name in opts.registry, called with opts.ctx; it returns a list
---          of rows, or a string parsed by `format` (default "csv"); nil, err raises err.
--- Raises a string naming the key on any error.
---@param md table
---@param opts table|nil { base_dir, registry, ctx }
---@return table rows
function M.load_master(md, opts)
  opts = opts or {}
  if type(md) ~= "table" then
    error("master_data: expected a table, got " .. type(md), 0)
  end
  local given = {}
  for _, k in ipairs { "file", "rows", "custom" } do
    if md[k] ~= nil then given[#given + 1] = k end
  end
  if #given ~= 1 then
    error("master_data: give exactly one of file, rows, custom"
      .. (#given > 1 and (" (got " .. concat(given, ", ") .. ")") or ""), 0)
  end
  if md.format ~= nil and md.format ~= "csv" and md.format ~= "json" then
    error("master_data.format: expected 'csv' or 'json', got " .. show(md.format), 0)
  end

  if md.file ~= nil then
    local file = md.file
    if type(file) ~= "string" or file == "" then
      error("master_data.file: expected a path string", 0)
    end
    local path = file
    if not is_absolute(path) and opts.base_dir and opts.base_dir ~= "" then
      local base = opts.base_dir
      if ssub(base, -1) ~= "/" then base = base .. "/" end
      path = base .. path
    end
    local ext = smatch(file, "%.([%w]+)$")
    ext = ext and slower(ext)
    local fmt = md.format or (ext and FORMAT_BY_EXT[ext])
    if fmt == nil then
      error("master_data.format: cannot tell the format of '" .. file
        .. "' from its name; give format = \"csv\" or \"json\"", 0)
    end
    local delimiter = md.delimiter
    if delimiter == nil and ext == "tsv" then delimiter = "\t" end
    local f, err = io.open(path, "rb")
    local text, rerr
    if f then
      text, rerr = f:read("*a")
      f:close()
    else   -- a file the feedhost command embeds (specs/kite_instruments.csv), or the module's copy
      text = require("feedhost.sys.ffi").resource((path:gsub("^%./", "")))
    end
    if not f and not text then
      err = tostring(err)
      if ssub(err, 1, #path + 2) == path .. ": " then err = ssub(err, #path + 3) end
      error("master_data.file: cannot open '" .. path .. "': " .. err, 0)
    end
    if text == nil then
      error("master_data.file: cannot read '" .. path .. "': " .. tostring(rerr), 0)
    end
    local where = "master_data.file: '" .. file .. "'"
    if fmt == "csv" then return parse_csv(text, delimiter, where) end
    return rows_from_json(text, where)
  end

  if md.rows ~= nil then
    return check_rows(md.rows, "master_data.rows")
  end

  local custom = md.custom
  local fn, label = custom, "master_data.custom"
  if type(custom) == "string" then
    fn = opts.registry and opts.registry[custom]
    if fn == nil then
      error("master_data.custom: no registry function '" .. custom .. "'", 0)
    end
    label = "master_data.custom: loader '" .. custom .. "'"
  end
  if type(fn) ~= "function" and not (getmetatable(fn) and getmetatable(fn).__call) then
    error("master_data.custom: expected a function or a registry name, got " .. type(fn), 0)
  end
  local ok, rows, err = pcall(fn, opts.ctx)
  if not ok then
    error(label .. " failed: " .. tostring(rows), 0)
  end
  if rows == nil then
    error(label .. " failed: " .. tostring(err or "returned nothing"), 0)
  end
  if type(rows) == "string" then
    return rows_from_text(rows, md.format or "csv", md, label)
  end
  return check_rows(rows, label)
end

return M
