#!/usr/bin/env python3
"""WebSocket server for transport tests: after the client's first message it sends
a fragmented message, a large (compressible) message, and a short one, then waits.
Prints "PORT <n>" when listening; logs the negotiated extensions on stderr.
Usage: frames_server.py [--no-deflate]"""
import asyncio
import json
import sys

import websockets


def trade(i, sym="AAPL"):
    return {"T": "t", "S": sym, "i": i, "x": "D", "p": 100.5 + i, "s": i + 1,
            "t": "2021-02-22T15:51:44.208123456Z", "c": ["@"], "z": "C"}


async def handler(ws, path):
    await ws.recv()  # any first message (the client's subscribe)
    exts = ws.response_headers.get("Sec-WebSocket-Extensions", "")
    print("extensions:" + exts, file=sys.stderr, flush=True)
    text = json.dumps([trade(1), trade(2)])
    third = len(text) // 3
    # one message in three WebSocket frames (continuation frames)
    await ws.send([text[:third], text[third:2 * third], text[2 * third:]])
    # about 400 KB in one message: 3000 trades
    await ws.send(json.dumps([trade(i, "MSFT") for i in range(3, 3003)]))
    await ws.send(json.dumps([trade(3003, "TSLA")]))
    await asyncio.sleep(30)


async def main():
    compression = None if "--no-deflate" in sys.argv else "deflate"
    async with websockets.serve(handler, "127.0.0.1", 0, compression=compression,
                                max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print("PORT %d" % port, flush=True)
        await asyncio.sleep(120)

asyncio.run(main())
