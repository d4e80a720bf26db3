#!/usr/bin/env python3
"""A WebSocket peer that completes the handshake, sends one message, then never reads or
answers again (no pongs): a dead peer behind a live TCP connection. Prints "PORT <n>" and
one "CONNECT" line per connection on stdout."""
import base64
import hashlib
import json
import socket
import sys
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def serve(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    key = ""
    for line in data.decode("latin-1").split("\r\n"):
        if line.lower().startswith("sec-websocket-key:"):
            key = line.split(":", 1)[1].strip()
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
    msg = json.dumps([{"T": "t", "S": "AAPL", "i": 1, "p": 1.5, "s": 2,
                       "t": "2021-02-22T15:51:44.208Z"}]).encode()
    conn.sendall(bytes([0x81, len(msg)]) + msg)
    print("CONNECT", flush=True)
    time.sleep(60)  # deaf: never reads, never answers a ping


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(8)
print("PORT %d" % srv.getsockname()[1], flush=True)
deadline = time.time() + 60
while time.time() < deadline:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
