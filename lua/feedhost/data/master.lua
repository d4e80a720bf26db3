--- feedhost.data.master: master data loading: the raw rows a universe is built from.
--
-- API
--   M.parse_csv(text, delimiter, where) -> list of rows (column -> string); `where` prefixes errors
--   M.load_master(md, opts)    -> list of raw rows; `md` is the spec's `master_data` table
--                                 (feedhost.data.master_sources: files, rows, loaders, paths)
--
-- Errors: misuse (bad arguments, bad master_data) raises a string naming the key:
--   "master_data.file: cannot open 'x.csv': No such file or directory".
-- Turning rows into assets (master_data.fields, master_data.filter) is the job of
-- feedhost.data.universe.

local M = {}

local type, error, pcall = type, error, pcall
local sfind, ssub, sbyte, sformat = string.find, string.sub, string.byte, string.format
local concat = table.concat
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
-- load_master
-- ---------------------------------------------------------------------------------------------

--- Loads master data rows: file(s), inline rows, a custom loader or several sources, with a
--- path into JSON documents (feedhost.data.master_sources has the whole format and the loader
--- contract). Raises a string naming the key on any error.
---@param md table
---@param opts table|nil { base_dir, registry, ctx, where, read }
---@return table rows
function M.load_master(md, opts)
  return (require("feedhost.data.master_sources").load(md, opts))
end

return M
