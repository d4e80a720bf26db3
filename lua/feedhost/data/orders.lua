--- feedhost.data.orders: the store's orders (see feedhost.data.store): by order id, the latest
-- state and a bounded history; past `max_orders` the order that finished first is forgotten,
-- else the oldest. The functions take the store (`self`): order_map, norders, order_seq, the
-- seen and done queues, max_orders, history_len and the counters.
local M = {}

local floor = math.floor
local type, tostring, pairs = type, tostring, pairs

local TERMINAL = { complete = true, cancelled = true, rejected = true }

-- An order id as a table key: numbers and int64 ids read as their digits.
local function order_key(id)
  local t = type(id)
  if t == "string" then
    return id
  elseif t == "number" then
    if id == floor(id) and id > -1e18 and id < 1e18 then
      return string.format("%d", id)
    end
    return tostring(id)
  elseif t == "cdata" then
    return (tostring(id):gsub("U?LL$", ""))
  end
  return nil
end

M.key = order_key

local function queue_push(q, id, seq)
  local tail = q.tail + 1
  q.tail = tail
  q[tail] = id
  q[-tail] = seq -- the entry is valid while the order still carries this seq
end

-- An entry of the seen queue is valid while its order still carries its seq; one of the done
-- queue while the order still finished at that seq.
local function seen_valid(orders, id, seq)
  local o = orders[id]
  return o ~= nil and o.seq == seq
end

local function done_valid(orders, id, seq)
  local o = orders[id]
  return o ~= nil and o.done == seq
end

-- Drops stale entries once the queue holds more than `limit`.
local function queue_compact(q, limit, valid, orders)
  if q.tail - q.head + 1 <= limit then
    return
  end
  local ids, seqs, n = {}, {}, 0
  for i = q.head, q.tail do
    if valid(orders, q[i], q[-i]) then
      n = n + 1
      ids[n], seqs[n] = q[i], q[-i]
    end
    q[i], q[-i] = nil, nil
  end
  for i = 1, n do
    q[i], q[-i] = ids[i], seqs[i]
  end
  q.head, q.tail = 1, n
end

-- Pops entries until a valid one; returns its id or nil.
local function queue_pop(q, valid, orders)
  while q.head <= q.tail do
    local i = q.head
    local id, seq = q[i], q[-i]
    q[i], q[-i] = nil, nil
    q.head = i + 1
    if valid(orders, id, seq) then
      return id
    end
  end
  q.head, q.tail = 1, 0
  return nil
end

local function evict_order(self)
  local orders = self.order_map
  local id = queue_pop(self.done_q, done_valid, orders) or queue_pop(self.seen_q, seen_valid, orders)
  if id then
    orders[id] = nil
    self.norders = self.norders - 1
    self.orders_evicted = self.orders_evicted + 1
  end
end

local function is_time(v)
  local t = type(v)
  return t == "number" or t == "cdata"
end

-- Whether timestamp a is before b (false when either is missing or not a time).
local function is_older(a, b)
  return is_time(a) and is_time(b) and a < b
end

local function put_order(self, r)
  local id = order_key(r.order_id)
  if id == nil then
    self.dropped = self.dropped + 1
    return
  end
  local orders = self.order_map
  local o = orders[id]
  if not o then
    if self.norders >= self.max_orders then
      evict_order(self)
    end
    self.order_seq = self.order_seq + 1
    o = { latest = r, seq = self.order_seq, done = false, hist = {}, nh = 0 }
    orders[id] = o
    self.norders = self.norders + 1
    queue_push(self.seen_q, id, o.seq)
    queue_compact(self.seen_q, 2 * self.max_orders + 64, seen_valid, orders)
  elseif not is_older(r.timestamp, o.latest.timestamp) then
    o.latest = r
  end
  local h, nh = o.hist, o.nh + 1
  h[(nh - 1) % self.history_len + 1] = r
  o.nh = nh
  local terminal = TERMINAL[o.latest.status] == true
  if terminal and not o.done then
    self.order_seq = self.order_seq + 1
    o.done = self.order_seq
    queue_push(self.done_q, id, o.done)
    queue_compact(self.done_q, 2 * self.max_orders + 64, done_valid, orders)
  elseif not terminal then
    o.done = false
  end
end

--- The latest state (record) of an order, or nil.
function M.order(self, id)
  local o = self.order_map[order_key(id)]
  return o and o.latest or nil
end

--- An order's last `order_history` states as received, oldest first (empty if unknown).
function M.history(self, id)
  local o = self.order_map[order_key(id)]
  local out = {}
  if o then
    local cap = self.history_len
    local first = o.nh - cap + 1
    if first < 1 then
      first = 1
    end
    for k = first, o.nh do
      out[#out + 1] = o.hist[(k - 1) % cap + 1]
    end
  end
  return out
end

--- Latest states of the orders that match `filter` ({status =, asset = symbol, connection =},
--- each optional), in the order first seen.
function M.list(self, filter, key_of)
  local status = filter and filter.status
  local sym = filter and key_of(filter.asset)
  local conn = filter and filter.connection
  local list = {}
  for _, o in pairs(self.order_map) do
    local r = o.latest
    if (status == nil or r.status == status) and (sym == nil or key_of(r.asset) == sym)
      and (conn == nil or r.connection == conn) then
      list[#list + 1] = o
    end
  end
  table.sort(list, function(x, y) return x.seq < y.seq end)
  for i = 1, #list do
    list[i] = list[i].latest
  end
  return list
end


M.put = put_order
return M
