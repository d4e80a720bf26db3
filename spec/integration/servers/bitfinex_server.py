#!/usr/bin/python3
"""A WebSocket test server that speaks Bitfinex's public WebSocket v2 (python3-websockets 10.4).

  server: {"event":"info","version":2,...}
  client: {"event":"conf","flags":32768}   server: {"event":"conf","status":"OK","flags":32768}
  client: {"event":"subscribe","channel":"trades"|"ticker","symbol":"tBTCUSD"}
  server: {"event":"subscribed","channel":...,"chanId":N,"symbol":...,"pair":...}
  client: {"event":"unsubscribe","chanId":N}
  server: {"event":"unsubscribed","status":"OK","chanId":N}, or for a channel id this connection
          does not have {"event":"error","msg":"unsubscribe: invalid","code":10400}
  server: every 1/--rate s, a message on each subscribed channel: a trade update
          [N,"te",[ID,MTS,AMOUNT,PRICE],MTS] or a ticker [N,[BID,...,LAST,...],MTS]

Channel ids are --first-chan (default 17470), then every next one 7 more, over the server's
life (a new subscription never gets an old id). Prints "PORT <n>"; appends every event as one
JSON line to --log, as ws_server.py does: {"ev":"connect"}, {"ev":"recv","text"},
{"ev":"send","text"} (the answers), {"ev":"data","chan","text"}, {"ev":"close"}, each with "conn".
"""
import argparse
import asyncio
import json
import time

import websockets

args = None
log_file = None
conns = 0
next_chan = 0
seq = 0


def log(ev, **kw):
    log_file.write(json.dumps(dict(ev=ev, t=time.time(), **kw), sort_keys=True) + "\n")
    log_file.flush()


async def handler(ws):
    global conns, next_chan
    conns += 1
    conn = conns
    chans = {}   # chanId -> (channel, symbol)
    log("connect", conn=conn, path=ws.path)

    async def send(obj, ev="send", **kw):
        text = json.dumps(obj, separators=(",", ":"))
        log(ev, conn=conn, text=text, **kw)
        await ws.send(text)

    async def producer():
        global seq
        while True:
            await asyncio.sleep(1.0 / args.rate)
            for cid, (channel, _) in list(chans.items()):
                seq += 1
                mts = int(time.time() * 1000)
                if channel == "trades":
                    msg = [cid, "te", [seq, mts, seq / 1000, 100 + seq / 100], mts]
                else:
                    msg = [cid, [100 + seq / 100, 1, 101 + seq / 100, 2, 0, 0, 100.5, 10, 0, 0], mts]
                await send(msg, "data", chan=cid)

    prod = asyncio.ensure_future(producer())
    try:
        await send({"event": "info", "version": 2, "platform": {"status": 1}})
        async for text in ws:
            log("recv", conn=conn, text=text)
            msg = json.loads(text)
            event = msg.get("event")
            if event == "conf":
                await send({"event": "conf", "status": "OK", "flags": msg.get("flags")})
            elif event == "subscribe":
                cid = args.first_chan + 7 * next_chan
                next_chan += 1
                chans[cid] = (msg["channel"], msg["symbol"])
                await send({"event": "subscribed", "channel": msg["channel"], "chanId": cid,
                            "symbol": msg["symbol"], "pair": msg["symbol"][1:]})
            elif event == "unsubscribe":
                if chans.pop(msg.get("chanId"), None):
                    await send({"event": "unsubscribed", "status": "OK", "chanId": msg["chanId"]})
                else:
                    await send({"event": "error", "msg": "unsubscribe: invalid", "code": 10400})
    except websockets.ConnectionClosed:
        pass
    finally:
        prod.cancel()
        log("close", conn=conn, code=ws.close_code)


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, compression=None) as server:
        print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--rate", type=float, default=20)
    p.add_argument("--first-chan", type=int, default=17470)
    args = p.parse_args()
    log_file = open(args.log, "a")
    asyncio.run(main())
