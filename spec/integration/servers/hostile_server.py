#!/usr/bin/python3
"""A hostile WebSocket peer for feedhost's robustness tests: a raw TCP server (no library) that
misbehaves in one way, chosen by --mode:
  silent     accepts the connection and reads, but never answers (no 101, no TLS ServerHello)
  redirect   answers the upgrade with 301 to --target (a second port that logs any connection)
  bigheader  answers 101 with 20 KiB of headers
  masked     completes the handshake, then sends a masked text frame (servers must not)
  badutf8    completes the handshake, sends a text frame that is not UTF-8, then a good one
  hugelen    completes the handshake, then a frame header claiming 2^63 - 1 payload bytes and
             HUGELEN_SENT bytes of that payload (logs "sent" when they are all written)
  slowclose  completes the handshake and streams trades; after the client's close frame it goes on
             sending for 0.3 s (a busy server), then answers the close and shuts down: logs
             "closed" with "reset": whether the client reset the connection meanwhile
Prints "PORT <n>" on stdout; appends {"ev": ..., "t": ...} JSON lines to --log ("accept",
"request" with the request head, "sent").
"""
import argparse
import base64
import hashlib
import json
import socket
import sys
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HUGELEN_SENT = 256 << 20   # bytes of the 2^63 - 1 byte frame's payload hugelen sends


def log(ev, **kw):
    with open(args.log, "a") as f:
        f.write(json.dumps(dict(ev=ev, t=time.time(), **kw)) + "\n")


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data.decode("latin-1")


def accept_value(head):
    for line in head.split("\r\n"):
        if line.lower().startswith("sec-websocket-key:"):
            key = line.split(":", 1)[1].strip()
            return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    return ""


def upgrade(conn, head, extra=""):
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Accept: %s\r\n%s\r\n" % (accept_value(head), extra)).encode())


def frame(payload, opcode=1, mask=False):
    head = bytes([0x80 | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    else:
        head += bytes([mbit | 126]) + n.to_bytes(2, "big")
    if mask:
        key = b"\x01\x02\x03\x04"
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def slow_close(conn):
    trade = frame(b'[{"T":"t","S":"AAPL","p":1,"s":1,"t":"2021-02-22T15:51:44Z"}]')
    conn.setblocking(False)
    got, closed_at, reset = b"", None, False
    try:
        while closed_at is None or time.time() < closed_at + 0.3:
            conn.sendall(trade)
            try:
                got += conn.recv(65536)
            except BlockingIOError:
                pass
            while closed_at is None and len(got) >= 6:   # the client's frames (masked)
                n, off = got[1] & 0x7F, 6
                if n == 126:
                    n, off = int.from_bytes(got[2:4], "big"), 8
                if len(got) < off + n:
                    break
                if got[0] & 0x0F == 8:
                    closed_at = time.time()
                    log("client_close")
                got = got[off + n:]
            time.sleep(0.0005)
        conn.setblocking(True)
        conn.sendall(frame(b"\x03\xe8", opcode=8))
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass
    except OSError as e:
        reset = True
        log("error", error=str(e))
    log("closed", reset=reset)


def serve(conn):
    log("accept")
    head = read_head(conn) if args.mode != "silent" else None
    if args.mode == "silent":
        while conn.recv(65536):
            pass
        return
    if head is None:
        return
    log("request", head=head)
    if args.mode == "redirect":
        conn.sendall(("HTTP/1.1 301 Moved Permanently\r\nLocation: ws://127.0.0.1:%d/steal\r\n"
                      "Content-Length: 0\r\n\r\n" % args.target).encode())
    elif args.mode == "bigheader":
        upgrade(conn, head, "".join("X-Filler-%d: %s\r\n" % (i, "x" * 100) for i in range(200)))
    elif args.mode == "masked":
        upgrade(conn, head)
        conn.sendall(frame(b'[{"T":"t","S":"AAPL","p":1,"s":1,"t":"2021-02-22T15:51:44Z"}]', mask=True))
    elif args.mode == "badutf8":
        upgrade(conn, head)
        conn.sendall(frame(b'[{"T":"t","S":"AA\xffPL","p":1,"s":1,"t":"2021-02-22T15:51:44Z"}]'))
        conn.sendall(frame(b'[{"T":"t","S":"MSFT","p":2,"s":2,"t":"2021-02-22T15:51:44Z"}]'))
    elif args.mode == "hugelen":
        upgrade(conn, head)
        conn.sendall(bytes([0x81, 127]) + (2 ** 63 - 1).to_bytes(8, "big"))
        chunk = b"x" * (1 << 20)
        for _ in range(HUGELEN_SENT >> 20):
            conn.sendall(chunk)
    elif args.mode == "slowclose":
        upgrade(conn, head)
        slow_close(conn)
        return
    log("sent")
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--target", type=int, default=9)
    args = p.parse_args()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    print("PORT %d" % srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
