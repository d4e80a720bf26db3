--- feedhost.data.store: the in-memory store of the latest records.
-- Latest trade/bar and quote per asset symbol, orders by order_id, positions by asset, the
-- latest account record, and the last few news/info records.
local M = {}
local Store = {}
Store.__index = Store

local function sym(a)
  if type(a) == "table" then
    return a.symbol
  end
  return a
end

function M.new()
  return setmetatable({ data = {}, quotes = {}, orders = {}, positions = {}, account = nil,
    news = {}, trades = {}, count = 0 }, Store)
end

--- Files one record (a sink: `emit`).
function Store:put(r)
  self.count = self.count + 1
  local ch = r.channel
  if ch == "quote" then
    local s = sym(r.asset)
    if s then
      self.quotes[s] = r
    end
  elseif ch == "data" then
    local s = sym(r.asset)
    if s then
      self.data[s] = r
    end
  elseif ch == "order" then
    if r.order_id ~= nil then
      self.orders[tostring(r.order_id)] = r
    end
  elseif ch == "position" then
    local s = sym(r.asset)
    if s then
      self.positions[s] = r
    end
  elseif ch == "account" then
    self.account = r
  elseif ch == "trade" then
    local t = self.trades
    t[#t + 1] = r
    if #t > 1000 then
      table.remove(t, 1)
    end
  elseif ch == "news" then
    local t = self.news
    t[#t + 1] = r
    if #t > 1000 then
      table.remove(t, 1)
    end
  end
end

function Store:quote(symbol) return self.quotes[symbol] end
function Store:last(symbol) return self.data[symbol] end
function Store:order(id) return self.orders[tostring(id)] end
function Store:position(symbol) return self.positions[symbol] end

return M
