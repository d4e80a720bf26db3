-- specs/dwx.lua pointed at a local DWX peer (spec/integration/servers/dwx_peer.py), whose ports
-- come from the environment: DWX_PUB, DWX_PULL (its command socket), DWX_PUSH (its replies);
-- DWX_IDLE sets heartbeat.idle_timeout, DWX_HEARTBEAT the heartbeat interval. It reads the
-- environment and loads another file: run it with --trusted-spec.
local f = assert(loadfile("specs/dwx.lua"))
setfenv(f, getfenv(1))
local spec = f()
local c = spec.streaming.connections.market_data
c.url = os.getenv("DWX_PUB") or c.url
c.backend.options.command_endpoint = os.getenv("DWX_PULL") or c.backend.options.command_endpoint
c.backend.options.reply_endpoint = os.getenv("DWX_PUSH") or c.backend.options.reply_endpoint
c.heartbeat.idle_timeout = tonumber(os.getenv("DWX_IDLE") or "") or c.heartbeat.idle_timeout
c.heartbeat.interval = tonumber(os.getenv("DWX_HEARTBEAT") or "") or c.heartbeat.interval
c.reconnect = { initial = 0.3, max = 5, factor = 2, jitter = 0 }
return spec
