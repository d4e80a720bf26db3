--- What unit tests share: a batch of text frames, the error a function raises.
local cffi = require("feedhost.sys.ffi")

local M = {}

--- A batch holding the text frames of list `texts` (connection 1, receive time `ts` or 0).
function M.of(texts, ts)
  local b = cffi.batch(65536, #texts + 1)
  for _, text in ipairs(texts) do
    assert(cffi.api.batch_push(b, 1, cffi.C.FH_FRAME_TEXT, ts or 0LL, text, #text) == 0)
  end
  return b
end

--- The error `f(...)` raises (the test fails when it returns).
function M.raises(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error")
  return err
end

return M
