-- The mutation run's fault list (spec/mutation/run.lua): small realistic faults, each a textual
-- patch of one product file (`find`, exactly once in `file`, becomes `replace`), with the tests
-- that must fail when it is made. A test entry is { busted = FILE, filter = PATTERN | {...} }
-- (busted's --filter: Lua patterns over "describe it" names) or { ctest = NAME }.
--
-- None of these faults is in the code; each one, had it been made, must make its tests fail.
-- When the code moves, the run says "fault N no longer applies": update `find` here.
local RT = "spec/unit/runtime_spec.lua"
local LIFE = "spec/unit/lifecycle_spec.lua"
local PIPE = "spec/unit/pipeline_spec.lua"

return {
  -- ---- the lifecycle: backoff, liveness, subscriptions -------------------------------------
  {
    name = "the backoff cap is ignored",
    file = "lua/feedhost/runtime/connection.lua",
    find = "local delay = math.min(rc.max, rc.initial * rc.factor ^ attempt)",
    replace = "local delay = rc.initial * rc.factor ^ attempt",
    tests = { { busted = LIFE, filter = "by reconnect.factor up to" } },
  },
  {
    name = "the backoff jitter is removed (clients reconnect in lockstep)",
    file = "lua/feedhost/runtime/connection.lua",
    find = "return math.max(0, delay * (1 + rc.jitter * (2 * random() - 1)))",
    replace = "return delay",
    tests = { { busted = LIFE, filter = "jitter" } },
  },
  {
    name = "the backoff resets as soon as a connection is live, not after stable_after",
    file = "lua/feedhost/runtime/connection.lua",
    find = "if was_live and now() - was_live >= rc.stable_after then",
    replace = "if was_live then",
    tests = { { busted = LIFE, filter = "flapping" } },
  },
  {
    name = "the backoff never resets, however long a connection was live",
    file = "lua/feedhost/runtime/connection.lua",
    find = "  if was_live and now() - was_live >= rc.stable_after then\n    self.attempt = 0\n  end\n",
    replace = "",
    tests = { { busted = LIFE, filter = "resets to reconnect.initial" } },
  },
  {
    name = "idle_timeout counts heartbeat frames as data",
    file = "lua/feedhost/runtime/connection.lua",
    find = "if dr > 0 or n - (st.heartbeats - h0) - (st.empty - m0) > 0 then",
    replace = "if dr > 0 or n > 0 then",
    tests = { { busted = LIFE, filter = "heartbeat frames" } },
  },
  {
    name = "idle_timeout counts pongs as data",
    file = "lua/feedhost/runtime/connection.lua",
    find = "function Connection:on_alive()\n  self.last_frame_at = now()\n",
    replace = "function Connection:on_alive()\n  self.last_frame_at = now()\n"
      .. "  self.last_data_at = self.last_frame_at\n",
    tests = { { busted = LIFE, filter = "pongs" } },
  },
  {
    name = "after a reconnect the old pacer is left in place: paced subscriptions never go out",
    file = "lua/feedhost/runtime/connection.lua",
    find = "  local was_live = self.live_at\n  if self.pacer then\n    self.pacer:cancel()\n    self.pacer = nil\n",
    replace = "  local was_live = self.live_at\n  if self.pacer then\n    self.pacer:cancel()\n",
    tests = { { busted = LIFE, filter = "subscribe_rate" } },
  },
  {
    name = "the subscriptions go out before the auth ack",
    file = "lua/feedhost/runtime/connection.lua",
    find = "  if self.def.has_ack then\n    self.state = \"authenticating\"",
    replace = "  self:subscribe_all()\n  if self.def.has_ack then\n    self.state = \"authenticating\"",
    tests = { { busted = RT, filter = "only after the ack" } },
  },
  {
    name = "an auth reject does not close the connection",
    file = "lua/feedhost/runtime/connection.lua",
    find = "  self:hook(\"on_error\", { error = \"auth rejected\", message = sample })\n"
      .. "  self:close_and_retry(\"auth_rejected\")\n",
    replace = "  self:hook(\"on_error\", { error = \"auth rejected\", message = sample })\n",
    tests = { { busted = RT, filter = "auth rejection" } },
  },
  {
    name = "auth.timeout of the spec is ignored (the 10 s default always applies)",
    file = "lua/feedhost/runtime/init.lua",
    find = "auth_timeout = (spec.auth and spec.auth.timeout) or M.DEFAULTS.auth_timeout,",
    replace = "auth_timeout = M.DEFAULTS.auth_timeout,",
    tests = { { busted = LIFE, filter = "auth.timeout" } },
  },
  {
    name = "the assets are not deduplicated before subscribing",
    file = "lua/feedhost/runtime/init.lua",
    find = "      seen[key] = true\n",
    replace = "",
    tests = { { busted = RT, filter = "resubscribes every asset" } },
  },
  {
    name = "limits.max_assets shards one asset too many per socket",
    file = "lua/feedhost/runtime/init.lua",
    find = "for k = i, math.min(i + max - 1, #list) do",
    replace = "for k = i, math.min(i + max, #list) do",
    tests = { { busted = RT, filter = "max_assets" } },
  },
  {
    name = "an unsubscribed asset stays marked subscribed (subscribing it again sends nothing)",
    file = "lua/feedhost/runtime/connection.lua",
    find = "        self.subscribed[symbol_of(a)] = nil\n",
    replace = "",
    tests = { { busted = LIFE, filter = "unsubscribe" } },
  },
  {
    name = "a ping timeout never fires (the pending ping is cleared on every tick)",
    file = "lua/feedhost/transport/websocket.lua",
    find = "if self.sent_ping_at and last >= self.sent_ping_at then",
    replace = "if self.sent_ping_at and t >= self.sent_ping_at then",
    tests = { { busted = "spec/integration/transport_spec.lua", filter = "stops answering pings" } },
  },
  {
    name = "the spec's heartbeat message goes out on every liveness tick, not every interval",
    file = "lua/feedhost/runtime/connection.lua",
    find = "    self.hb_at = t\n",
    replace = "",
    tests = { { busted = RT, filter = "heartbeat message at its interval" } },
  },
  {
    name = "a timer cancelled by another timer of the same step still runs",
    file = "lua/feedhost/runtime/reactor.lua",
    find = "    if not t.dead then\n      if t.every then",
    replace = "    if true then\n      if t.every then",
    tests = { { busted = "spec/unit/reactor_spec.lua", filter = "cancel" } },
  },

  -- ---- the pipeline ---------------------------------------------------------------------------
  {
    name = "frame = array through on_message or preprocess drops the last element",
    file = "lua/feedhost/spec/fanout.lua",
    find = "or function(v) return \"#\" .. v end",
    replace = "or function(v) return \"#\" .. v .. \" - 1\" end",
    tests = { { busted = PIPE, filter = "frame = array" } },
  },
  {
    name = "frame = array through a replaced frame (on_message string) drops the last element",
    file = "lua/feedhost/spec/fanout.lua",
    find = "    add(\"for _ = 1, \" .. len(\"a\" .. k) .. \" do\")",
    replace = "    add(\"for _ = 1, \" .. len(\"a\" .. k) .. \" - 1 do\")",
    tests = { { busted = PIPE, filter = "frame = array" } },
  },
  {
    name = "payload_path is not applied to messages from decode, a hook or a text parser",
    file = "lua/feedhost/spec/pipeline_gen.lua",
    find = "  if pp_l then\n    g:emit(\"data = \" .. pp_l",
    replace = "  if false then\n    g:emit(\"data = \" .. pp_l",
    tests = { { busted = PIPE, filter = "payload_path" } },
  },
  {
    name = "the router's default_channel is ignored",
    file = "lua/feedhost/spec/pipeline_gen.lua",
    find = "target(router.default_channel or \"unknown\")",
    replace = "target(\"unknown\")",
    tests = { { busted = PIPE, filter = "router" } },
  },
  {
    name = "a mapping's default is ignored",
    file = "lua/feedhost/data/mappings.lua",
    find = "    if has_default then return default end\n",
    replace = "",
    tests = { { busted = "spec/unit/mappings_spec.lua" } },
  },
  {
    name = "infer_asset{security_id = ...} on its slower path looks in the symbol index",
    file = "lua/feedhost/data/universe.lua",
    find = "local a = s and by_sid[s]",
    replace = "local a = s and by_symbol[s]",
    tests = { { busted = "spec/unit/universe_spec.lua", filter = "security_id" } },
  },

  -- ---- bytes: JSON tape, WebSocket framing, timestamps ---------------------------------------
  {
    name = "the JSON tape unescapes \\/ wrongly",
    file = "host/codec/json_query.c",
    find = "case '/': c = '/'; break;",
    replace = "case '/': c = '\\\\'; break;",
    tests = { { ctest = "c_json_tape" } },
  },
  {
    name = "the JSON tape fails to join a surrogate pair at the end of a string",
    file = "host/codec/json_query.c",
    find = "if (u >= 0xD800 && u <= 0xDBFF && i + 6 <= len &&",
    replace = "if (u >= 0xD800 && u <= 0xDBFF && i + 6 < len &&",
    tests = { { ctest = "c_json_tape" } },
  },
  {
    name = "a 64-bit WebSocket frame length is read from its low half",
    file = "host/codec/ws_frame.c",
    find = "    for (int i = 0; i < 8; i++) {\n      len = (len << 8) | p[2 + i];",
    replace = "    for (int i = 4; i < 8; i++) {\n      len = (len << 8) | p[2 + i];",
    tests = { { ctest = "c_ws_frame" } },
  },
  {
    name = "the Sec-WebSocket-Accept value of the handshake is not checked",
    file = "host/codec/ws_frame.c",
    find = "if (!v || vlen != wn || memcmp(v, want, wn) != 0 || !up",
    replace = "if (!v || !up",
    tests = { { ctest = "c_ws_frame" } },
  },
  {
    name = "a message of exactly limits.max_frame_bytes is dropped (>= instead of >)",
    file = "host/net/ws_proto.c",
    find = "if (w->rx_skip || total > w->c->max_frame) {",
    replace = "if (w->rx_skip || total >= w->c->max_frame) {",
    tests = { { busted = RT, filter = "oversized" } },
  },
  {
    name = "the WebSocket close code is not echoed",
    file = "host/net/ws_proto.c",
    find = "w->out(w, FH_WS_CLOSE, pl, len >= 2 ? 2 : 0);",
    replace = "w->out(w, FH_WS_CLOSE, pl, 0);",
    tests = { { busted = "spec/integration/ws_spec.lua", filter = "server closes mid" } },
  },
  {
    name = "a timestamp's UTC offset is applied with the wrong sign",
    file = "host/codec/ts.c",
    find = "        if (c == '-') {\n          off = -off;",
    replace = "        if (c == '+') {\n          off = -off;",
    tests = { { ctest = "c_json_tape" }, { busted = "spec/unit/tape_spec.lua", filter = "ts" } },
  },

  -- ---- the loop core ----------------------------------------------------------------------------
  {
    name = "the inbox's drop counter is not reported (no FH_EV_DROPPED)",
    file = "host/core/conn.c",
    find = "      fh_loop_push_event(lp, FH_EV_DROPPED, c->id, n > INT32_MAX ? INT32_MAX : (int)n, 0, NULL);\n",
    replace = "",
    tests = { { ctest = "c_loop" } },
  },
  {
    name = "a full send queue takes one more message (the bound checked with > instead of ==)",
    file = "host/net/outq.c",
    find = "  if (q->n == q->cap) {\n    return NULL;",
    replace = "  if (q->n > q->cap) {\n    return NULL;",
    tests = { { busted = "spec/unit/reactor_spec.lua", filter = "full send queue" } },
  },
  {
    name = "a closed listener does not free its port",
    file = "host/net/ws_server.c",
    find = "  fh_file_close(&l->f);   // the port is free when this returns\n",
    replace = "",
    tests = { { ctest = "c_loop" } },
  },
  {
    name = "the WebSocket client closes as soon as its close frame is out (a reset under a stream)",
    file = "host/net/ws_client.c",
    find = "  if (s->w.closing && !s->w.peer_code) {\n",
    replace = "  if (0) {\n",
    tests = { { busted = "spec/integration/hostile_spec.lua" } },
  },
  {
    name = "lua_close unloads the core module under its threads (core.so not linked nodelete)",
    file = "CMakeLists.txt",
    find = "target_link_options(feedhost_core_module PRIVATE -Wl,-z,nodelete)\n",
    replace = "",
    tests = { { busted = "spec/integration/exit_spec.lua" } },
  },

  -- ---- records, credentials, logs, URLs, the store -----------------------------------------------
  {
    name = "NDJSON record keys are not sorted",
    file = "lua/feedhost/util/json.lua",
    find = "  else\n    sort(keys)\n  end\n  return n\n",
    replace = "  end\n  return n\n",
    tests = { { busted = "spec/unit/record_spec.lua" } },
  },
  {
    name = "record timestamps are rounded through a double",
    file = "lua/feedhost/util/json.lua",
    find = "return sub(tostring(v), 1, -3) -- strip \"LL\"",
    replace = "return format(\"%.0f\", tonumber(v))",
    tests = { { busted = "spec/unit/record_spec.lua" } },
  },
  {
    name = "the credentials' environment variable name is built wrong (field not upper-cased)",
    file = "lua/feedhost/spec/credentials.lua",
    find = "v = getenv(prefix .. \"_\" .. f:upper():gsub(\"[^%w]\", \"_\"))",
    replace = "v = getenv(prefix .. \"_\" .. f:gsub(\"[^%w]\", \"_\"))",
    tests = { { busted = "spec/unit/cli_spec.lua", filter = "environment" } },
  },
  {
    name = "the URL-encoded form of a secret is not redacted from log lines",
    file = "lua/feedhost/util/log.lua",
    find = "  table.insert(forms, 1, url_escape(s))\n",
    replace = "",
    tests = { { busted = "spec/unit/log_spec.lua" } },
  },
  {
    name = "'+' is left unescaped in URL query values",
    file = "lua/feedhost/spec/messages.lua",
    find = "return (tostring(s):gsub(\"[^%w%-%._~]\", function(c)",
    replace = "return (tostring(s):gsub(\"[^%w%-%._~+]\", function(c)",
    tests = { { busted = "spec/unit/messages_spec.lua" } },
  },
  {
    name = "a tick exactly at a bar's close time (end + lateness) still updates the bar",
    file = "lua/feedhost/data/bars.lua",
    find = "if start + iv + lms <= clock then",
    replace = "if start + iv + lms < clock then",
    tests = { { busted = "spec/unit/store_spec.lua" } },
  },
  -- ---- records out (issue 9) ------------------------------------------------------------------
  {
    name = "records written straight as NDJSON lines do not sort their keys",
    file = "lua/feedhost/spec/codegen_out.lua",
    find = "    keys[#keys + 1] = k\n  end\n  table.sort(keys)\n",
    replace = "    keys[#keys + 1] = k\n  end\n",
    tests = { { busted = "spec/unit/ndjson_direct_spec.lua", filter = "byte for byte" } },
  },
  {
    name = "an empty nested table written straight is `{}`, where the encoder writes `[]`",
    file = "host/codec/ndjson.c",
    find = "if (c == '}' && o->len > o->line && o->buf[o->len - 1] == '{') {",
    replace = "if (0) {",
    tests = { { ctest = "c_ndjson" }, { busted = "spec/unit/ndjson_direct_spec.lua", filter = "byte for byte" } },
  },
  {
    name = "a record that fails half way leaves its half line in the output",
    file = "lua/feedhost/spec/pipeline.lua",
    find = "      writers.cancel()   -- the line the failing record had begun\n",
    replace = "",
    tests = { { busted = "spec/unit/ndjson_direct_spec.lua", filter = "takes back" } },
  },
  {
    name = "an integer timestamp of 12 digits (ms) is read as seconds",
    file = "host/codec/json_query.c",
    find = "uint64_t mult = nd <= 11 ? 1000000000u",
    replace = "uint64_t mult = nd <= 12 ? 1000000000u",
    tests = { { ctest = "c_json_tape" } },
  },
  {
    name = "a long integer's str() goes through a double",
    file = "lua/feedhost/spec/tape.lua",
    find = "    if t.type == J_NUM and t.len > 15 then   -- shorter integers are exact as doubles anyway",
    replace = "    if false then",
    tests = { { busted = "spec/unit/ndjson_direct_spec.lua", filter = "exactly" } },
  },
  {
    name = "a slow stdout never leads to drops: the host waits for it forever",
    file = "lua/feedhost/runtime/output.lua",
    find = "      if clock.mono() >= deadline then",
    replace = "      if false then",
    tests = { { busted = "spec/integration/output_spec.lua", filter = "drops lines" } },
  },
}
