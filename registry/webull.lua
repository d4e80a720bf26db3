--- Registry functions for the Webull-style MQTT feed (specs/webull.lua, PROTOCOLS.md 9.2).
--
-- Topics are JSON texts. A subscription names a ticker and a record type:
--   {"tickerIds":[913256135],"type":"103"}
-- (the app feed lists several tickers in one topic; a standard broker routes a message only to
-- a topic it was published on, so this feed keeps one ticker per topic and the publisher
-- publishes on exactly that topic). Record types: 102 price summary, 103 trade, 104 book.
local M = {}

-- the record types each channel subscribes
local TYPES = { data = { "103" }, quote = { "102", "104" } }

--- The topic of one ticker and record type.
function M.webull_topic(ticker_id, typ)
  return string.format('{"tickerIds":[%s],"type":"%s"}', tostring(ticker_id), typ)
end

--- Subscription builder (subscribe and unsubscribe messages): one topic per asset and record
-- type of the message's channel, QoS 1.
function M.webull_topics(ctx)
  local out = {}
  for _, a in ipairs(ctx.subscribe_assets or {}) do
    for _, typ in ipairs(TYPES[ctx.channel] or {}) do
      out[#out + 1] = { topic = M.webull_topic(a.security_id, typ), qos = 1 }
    end
  end
  return out
end

--- The record type an incoming message's topic names ("103"), or nil.
function M.wb_type(topic)
  return type(topic) == "string" and topic:match('"type":"(%d+)"') or nil
end

return M
