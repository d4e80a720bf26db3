#!/usr/bin/python3
"""A WebSocket to TCP bridge (python3-websockets), for MQTT over WebSocket against a broker whose
Debian build has no WebSocket listener: every WebSocket connection (subprotocol "mqtt") gets a
TCP connection to --to HOST:PORT, binary messages one way, bytes the other.

Prints "PORT <n>" once listening on 127.0.0.1; logs "connect <path> <subprotocol>" lines to
stderr.
"""
import argparse
import asyncio
import sys

import websockets


async def pump_ws_to_tcp(ws, writer):
    async for msg in ws:
        writer.write(msg if isinstance(msg, bytes) else msg.encode())
        await writer.drain()
    writer.close()


async def pump_tcp_to_ws(reader, ws):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        await ws.send(data)
    await ws.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", required=True)
    a = ap.parse_args()
    host, port = a.to.rsplit(":", 1)

    async def handle(ws, path=None):
        print("connect %s %s" % (getattr(ws, "path", path), ws.subprotocol), file=sys.stderr,
              flush=True)
        reader, writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pump_ws_to_tcp(ws, writer), pump_tcp_to_ws(reader, ws),
                             return_exceptions=True)

    async with websockets.serve(handle, "127.0.0.1", 0, subprotocols=["mqtt"]) as server:
        print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
