--- feedhost.util.text: values shown in error messages, and numbers written as ids.
--
-- API
--   M.show(v)      -> string: a string in single quotes (over 80 bytes: its first 77 and "..."),
--                     anything else through tostring. For "unknown value 'xyz'" messages.
--   M.describe(v)  -> string: the type and a sample, e.g. `string "ab"` (over 40 bytes: its
--                     first 40 and "..."), `number 1.5`, `boolean true`, `cdata 1LL`, `table`.
--                     For "expected ..., got ..." messages.
--   M.number(v)    -> string|nil: a finite number as text: integral ones without a fraction
--                     (408065 -> "408065", -0.0 -> "0"), others with 17 significant digits;
--                     nil for NaN and the infinities.
local M = {}

local type, tostring = type, tostring
local sub, format = string.sub, string.format
local floor, huge = math.floor, math.huge

---@param v any
---@return string
function M.show(v)
  if type(v) == "string" then
    if #v > 80 then v = sub(v, 1, 77) .. "..." end
    return "'" .. v .. "'"
  end
  return tostring(v)
end

---@param v any
---@return string
function M.describe(v)
  local tv = type(v)
  if tv == "string" then
    if #v > 40 then
      v = sub(v, 1, 40) .. "..."
    end
    return format("string %q", v)
  elseif tv == "number" or tv == "boolean" then
    return tv .. " " .. tostring(v)
  elseif tv == "cdata" then
    return "cdata " .. tostring(v)
  end
  return tv
end

---@param v number
---@return string|nil
function M.number(v)
  if v ~= v or v == huge or v == -huge then return nil end
  if v == floor(v) then
    if v == 0 then return "0" end
    return format("%.0f", v)
  end
  return format("%.17g", v)
end

return M
