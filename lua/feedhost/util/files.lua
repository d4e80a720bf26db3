--- feedhost.util.files: reading files a user names, without trusting them: a size cap (a
-- device such as /dev/zero or a huge file is an error, not a hang), a directory or an unreadable
-- file is a clear error, and nothing of the content is echoed in the message.
local M = {}

--- The whole text of `path`, at most `max` bytes (default 16 MiB).
-- @return text, or nil, message
function M.read(path, max)
  max = max or 16 * 1024 * 1024
  local f, err = io.open(path, "rb")
  if not f then
    return nil, "cannot open " .. path .. ": " .. tostring(err):gsub("^" .. path:gsub("%p", "%%%0") .. ": ", "")
  end
  local text, rerr = f:read(max + 1)
  f:close()
  if text == nil and rerr then
    return nil, "cannot read " .. path .. ": " .. tostring(rerr)
  end
  text = text or ""
  if #text > max then
    return nil, string.format("%s is larger than %d bytes (not a regular file of that size?)", path, max)
  end
  return text
end

--- The line number a Lua syntax error names (its message may quote the source: not repeated).
function M.syntax_line(err)
  return tostring(err):match(":(%d+):")
end

return M
