#!/usr/bin/python3
"""Configurable WebSocket test server for feedhost integration tests (python3-websockets 10.4).

Speaks an Alpaca-like market data protocol (shared/PROTOCOLS.md section 2):
  server: [{"T":"success","msg":"connected"}]
  client: {"action":"auth","key":K,"secret":S}
  server: [{"T":"success","msg":"authenticated"}]   or   [{"T":"error","code":402,"msg":"auth failed"}]
  client: {"action":"subscribe","trades":[...],"bars":[...]}  /  {"action":"subscribe","quotes":[...]}
  server: [{"T":"subscription","trades":[...],"quotes":[...],"bars":[...]}]
  server: data arrays [{"T":"t",...}] / [{"T":"q",...}] at --rate messages per second

Binds 127.0.0.1 (port 0 unless --port), prints "PORT <n>" on stdout (flushed), and appends every
event as one JSON line to --log:
  {"ev":"connect","path":"/v2/iex?a=1","headers":{...},"status":101|401}
  {"ev":"recv","text":"..."}          every text frame from the client ({"ev":"recv","binary":n})
  {"ev":"send","text":"..."}          control replies;  {"ev":"data","seq":n,"text":"..."} data
  {"ev":"bad","kind":"malformed"|"oversized","bytes":n}
  {"ev":"ping"}                       a WebSocket ping from the client (answered with a pong)
  {"ev":"silent"}                     the server stopped sending data (--silent-after)
  {"ev":"close","code":c,"reason":r,"by":"server"|"client"|"drop"}
Every event carries "conn" (1, 2, ... in order of handshakes) and "t" (time.time()).

Each data message is one array: a trade for every subscribed trade symbol, then a quote for every
subscribed quote symbol; trade "i" is the global data sequence number, price 100 + seq/100,
size seq (so each record names the message that made it).
"""
import argparse
import asyncio
import http
import json
import signal
import ssl
import sys
import time
import urllib.parse

import websockets
from websockets.legacy.server import WebSocketServerProtocol

args = None
log_file = None
conn_counter = 0
seq_counter = 0
auth_rejects = 0


def log(ev, **kw):
    kw = dict(ev=ev, t=time.time(), **kw)
    log_file.write(json.dumps(kw, sort_keys=True) + "\n")
    log_file.flush()


def iso_now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def check_handshake(path, headers):
    """Auth checks that happen on the HTTP handshake: returns an HTTP status or None."""
    if args.http_status:
        return args.http_status
    if args.auth == "headers":
        if headers.get(args.key_header) != args.key or headers.get(args.secret_header) != args.secret:
            return 401
    elif args.auth == "query":
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query, keep_blank_values=True)
        if q.get(args.key_param) != [args.key] or q.get(args.secret_param) != [args.secret]:
            return 401
    return None


class Protocol(WebSocketServerProtocol):
    conn = 0
    closing_by_server = False

    async def process_request(self, path, request_headers):
        global conn_counter
        conn_counter += 1
        self.conn = conn_counter
        hdrs = {}
        for k, v in request_headers.raw_items():
            hdrs[k] = v if k not in hdrs else hdrs[k] + ", " + v
        status = check_handshake(path, request_headers)
        log("connect", conn=self.conn, path=path, headers=hdrs, status=status or 101)
        if status:
            st = http.HTTPStatus(status)
            return st, [("Content-Type", "text/plain")], ("%d %s\n" % (status, st.phrase)).encode()
        return None

    async def pong(self, data=b""):
        log("ping", conn=self.conn)
        await super().pong(data)


class Session:
    def __init__(self, ws):
        self.ws = ws
        self.conn = ws.conn
        self.authed = args.auth != "first_message"
        self.subs = {"trades": [], "quotes": [], "bars": []}
        self.sent_data = 0
        self.done = False
        self.reject_task = None
        faulty = args.faults == 0 or self.conn <= args.faults
        self.close_after = args.close_after if faulty else None
        self.silent_after = args.silent_after if faulty else None

    async def send(self, obj):
        text = json.dumps(obj, separators=(",", ":"))
        log("send", conn=self.conn, text=text)
        await self.ws.send(text)

    def subscribed(self):
        return any(self.subs.values())

    async def on_text(self, text):
        try:
            msg = json.loads(text)
        except ValueError:
            await self.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
            return
        if not isinstance(msg, dict):
            await self.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
            return
        action = msg.get("action")
        if action == "auth":
            global auth_rejects
            if args.reject_auth or msg.get("key") != args.key or msg.get("secret") != args.secret:
                auth_rejects += 1
                await self.send([{"T": "error", "code": 402, "msg": "auth failed"}])
                # Alpaca answers and keeps the socket; close it ourselves if the client does not
                self.reject_task = asyncio.ensure_future(self.close_later(args.reject_close_delay))
                return
            self.authed = True
            await self.send([{"T": "success", "msg": "authenticated"}])
        elif action in ("subscribe", "unsubscribe"):
            if not self.authed:
                await self.send([{"T": "error", "code": 401, "msg": "not authenticated"}])
                return
            for key in ("trades", "quotes", "bars"):
                syms = msg.get(key) or []
                if action == "subscribe":
                    for s in syms:
                        if s not in self.subs[key]:
                            self.subs[key].append(s)
                else:
                    self.subs[key] = [s for s in self.subs[key] if s not in syms]
            await self.send([dict(T="subscription", **self.subs)])
        # anything else (an app-level "ping" text, unknown actions) is only logged

    async def close_later(self, delay):
        await asyncio.sleep(delay)
        await self.server_close(1008, "auth failed")

    async def server_close(self, code, reason):
        if self.done:
            return
        self.done = True
        if not self.ws.open:
            return
        self.ws.closing_by_server = True
        await self.ws.close(code, reason)

    def drop(self):
        self.done = True
        self.ws.closing_by_server = "drop"
        self.ws.transport.abort()

    def data_message(self, seq):
        items = []
        for s in self.subs["trades"]:
            items.append({"T": "t", "i": seq, "S": s, "x": "V", "p": 100 + seq / 100, "s": seq,
                          "t": iso_now(), "c": ["@"], "z": "C"})
        for s in self.subs["quotes"]:
            items.append({"T": "q", "S": s, "bx": "V", "bp": 99 + seq / 100, "bs": seq, "ax": "V",
                          "ap": 101 + seq / 100, "as": seq, "t": iso_now(), "c": ["R"], "z": "C"})
        return json.dumps(items, separators=(",", ":"))

    async def bad_frames(self):
        """After good message k: malformed JSON if k % 3 == 1, oversized if k % 3 == 2."""
        k = self.sent_data
        if k % 3 == 1 and k // 3 < args.bad_count:
            text = '[{"T":"t","i":-1,"S":"AAPL","x":"V","p":1,,}{]'
            log("bad", conn=self.conn, kind="malformed", bytes=len(text))
            await self.ws.send(text)
        elif k % 3 == 2 and k // 3 < args.bad_count:
            pad = "x" * args.oversize
            sym = self.subs["trades"][0] if self.subs["trades"] else "AAPL"
            text = json.dumps([{"T": "t", "i": -2, "S": sym, "x": "V", "p": 999999, "s": 999999,
                                "t": iso_now(), "pad": pad}], separators=(",", ":"))
            log("bad", conn=self.conn, kind="oversized", bytes=len(text))
            await self.ws.send(text)

    async def producer(self):
        global seq_counter
        period = 1.0 / args.rate
        while not self.done:
            await asyncio.sleep(period)
            if self.done or not self.authed or not self.subscribed():
                continue
            if self.silent_after is not None and self.sent_data >= self.silent_after:
                log("silent", conn=self.conn)
                # stay connected (pings are still answered by the protocol) but send nothing
                await self.ws.wait_closed()
                return
            if self.close_after is not None and self.sent_data >= self.close_after:
                if args.close_mode == "drop":
                    self.drop()
                else:
                    await self.server_close(1011, "server going away")
                return
            seq_counter += 1
            text = self.data_message(seq_counter)
            log("data", conn=self.conn, seq=seq_counter, text=text)
            try:
                await self.ws.send(text)
            except websockets.ConnectionClosed:
                return
            self.sent_data += 1
            if args.bad_frames:
                await self.bad_frames()


async def handler(ws):
    s = Session(ws)
    prod = asyncio.ensure_future(s.producer())
    try:
        await s.send([{"T": "success", "msg": "connected"}])
        if args.auth in ("headers", "query", "none"):
            await s.send([{"T": "success", "msg": "authenticated"}])
        async for message in ws:
            if isinstance(message, bytes):
                log("recv", conn=s.conn, binary=len(message))
                continue
            log("recv", conn=s.conn, text=message)
            await s.on_text(message)
    except websockets.ConnectionClosed:
        pass
    finally:
        s.done = True
        prod.cancel()
        if s.reject_task:
            s.reject_task.cancel()
        await ws.wait_closed()
        by = ws.closing_by_server
        log("close", conn=s.conn, code=ws.close_code, reason=ws.close_reason,
            by="drop" if by == "drop" else ("server" if by else "client"))


async def main():
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
    async with websockets.serve(handler, "127.0.0.1", args.port, create_protocol=Protocol, ssl=ctx,
                                max_size=args.max_size, ping_interval=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        log("listen", port=port)
        sys.stdout.write("PORT %d\n" % port)
        sys.stdout.flush()
        # a watchdog: never outlive a test run that died without stopping us
        loop.call_later(args.max_lifetime, lambda: stop.done() or stop.set_result(None))
        await stop
    log("stop")


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", required=True, help="JSON lines event log (appended)")
    p.add_argument("--port", type=int, default=0, help="port to bind (default: ephemeral)")
    p.add_argument("--auth", choices=["first_message", "headers", "query", "none"], default="first_message")
    p.add_argument("--key", default="AKTEST")
    p.add_argument("--secret", default="SKTEST")
    p.add_argument("--key-header", default="APCA-API-KEY-ID")
    p.add_argument("--secret-header", default="APCA-API-SECRET-KEY")
    p.add_argument("--key-param", default="key")
    p.add_argument("--secret-param", default="secret")
    p.add_argument("--seq-start", type=int, default=0, help="data sequence numbers start after this")
    p.add_argument("--rate", type=float, default=20, help="data messages per second")
    p.add_argument("--reject-auth", action="store_true", help="always answer auth with the 402 error")
    p.add_argument("--reject-close-delay", type=float, default=1.0,
                   help="after a 402, close the socket this many seconds later if still open")
    p.add_argument("--http-status", type=int, default=0, help="refuse every handshake with this status")
    p.add_argument("--close-after", type=int, default=None, help="close after N data messages")
    p.add_argument("--close-mode", choices=["code", "drop"], default="code",
                   help="code: close frame 1011; drop: abort the TCP connection")
    p.add_argument("--silent-after", type=int, default=None,
                   help="stop sending data after N data messages (socket stays open, pings answered)")
    p.add_argument("--faults", type=int, default=0,
                   help="--close-after/--silent-after apply to the first N connections only (0: all)")
    p.add_argument("--bad-frames", action="store_true", help="interleave malformed and oversized frames")
    p.add_argument("--bad-count", type=int, default=3, help="how many of each bad frame")
    p.add_argument("--oversize", type=int, default=2 * 1024 * 1024, help="bytes of an oversized frame")
    p.add_argument("--max-size", type=int, default=2 ** 20, help="max incoming message size")
    p.add_argument("--max-lifetime", type=float, default=300, help="exit after this many seconds")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    return p.parse_args()


if __name__ == "__main__":
    args = parse()
    seq_counter = args.seq_start
    log_file = open(args.log, "a")
    asyncio.run(main())
