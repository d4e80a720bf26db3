#!/usr/bin/env python3
"""A Socket.IO test server on python3-socketio (Engine.IO 4, aiohttp): the same protocol as
sio_server.js (Breeze-like `join` / `leave` of stock codes, `stock` events as positional arrays)
and the same JSON-lines log, for a second, independent server implementation.

    sio_server.py --log F [--port 0] [--token T] [--rate N] [--string-args] [--breeze]
--breeze: ticks in Breeze's 21-item cash layout (seq as bQty, epoch seconds as ltt).
Prints "PORT <n>" when listening.
"""
import argparse
import asyncio
import json
import time

import socketio
from aiohttp import web

ap = argparse.ArgumentParser()
ap.add_argument("--log", required=True)
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--token")
ap.add_argument("--rate", type=float, default=20)
ap.add_argument("--string-args", action="store_true")
ap.add_argument("--breeze", action="store_true")
args = ap.parse_args()

T0 = time.time()
state = {"conns": 0, "seq": 0}
codes = {}   # sid -> set of codes
numbers = {}  # sid -> connection number


def log(ev):
    ev["t"] = round(time.time() - T0, 3)
    with open(args.log, "a") as f:
        f.write(json.dumps(ev) + "\n")


sio = socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"])


@sio.event
async def connect(sid, environ, auth):
    state["conns"] += 1
    n = state["conns"]
    numbers[sid] = n
    ok = not args.token or (auth or {}).get("token") == args.token
    log({"ev": "connect", "conn": n, "eio": 4, "auth": auth or {},
         "query": environ.get("QUERY_STRING", ""), "ok": ok})
    if not ok:
        raise socketio.exceptions.ConnectionRefusedError("Not authorized")
    codes[sid] = set()


@sio.event
async def join(sid, data):
    codes[sid].update(data if isinstance(data, list) else [data])
    log({"ev": "join", "conn": numbers[sid], "codes": data})


@sio.event
async def leave(sid, data):
    codes[sid].difference_update(data if isinstance(data, list) else [data])
    log({"ev": "leave", "conn": numbers[sid], "codes": data})


@sio.event
async def disconnect(sid):
    codes.pop(sid, None)
    log({"ev": "disconnect", "conn": numbers.get(sid)})


async def stream():
    while True:
        await asyncio.sleep(1 / args.rate)
        for sid, cs in list(codes.items()):
            for code in sorted(cs):
                state["seq"] += 1
                seq = state["seq"]
                tick = [code, seq, 100 + seq / 100, 100.5 + seq / 100, int(T0) + seq]
                if args.breeze:
                    bid = 100 + seq / 100
                    tick = [code, 99.5, bid + 0.2, 101.0, 99.0, 0.1, bid, seq, bid + 0.5, 7, 3,
                            100.1, 1000 + seq, 500, 600, 123456.5, "", 90.0, 110.0,
                            int(T0) + seq, 99.8]
                await sio.emit("stock", json.dumps(tick) if args.string_args else tick, to=sid)
                log({"ev": "data", "conn": numbers[sid], "seq": seq, "code": code})


async def main():
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print("PORT", port, flush=True)
    await stream()


asyncio.run(main())
