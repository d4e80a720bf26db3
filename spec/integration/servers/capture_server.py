#!/usr/bin/env python3
"""Replays the "in" frames of a capture file (feedhost's capture format) to each client, as text
or binary WebSocket messages, once the client has sent as many messages as the capture has "out"
frames. Prints "PORT <n>", then per connection "PATH <path>" and "GOT <text>" lines."""
import asyncio
import base64
import json
import sys

import websockets

frames_in, n_out = [], 0
with open(sys.argv[1]) as f:
    for line in f:
        rec = json.loads(line)
        if rec["dir"] == "out":
            n_out += 1
        elif "binary" in rec:
            frames_in.append(base64.b64decode(rec["binary"]))
        else:
            frames_in.append(rec["text"])


async def handler(ws, path):
    print("PATH " + path, flush=True)
    for _ in range(n_out):
        print("GOT " + await ws.recv(), flush=True)
    for fr in frames_in:
        await ws.send(fr)
    await asyncio.sleep(30)


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, compression=None) as server:
        print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
