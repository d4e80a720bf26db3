#!/usr/bin/python3
"""A stand-in for the Darwinex DWX ZeroMQ EA (PROTOCOLS.md 10), for tests and demos.

Binds three sockets on 127.0.0.1 (ephemeral ports, or --ports PULL,PUSH,PUB to come back on the
same ones after a restart) and prints one line "PORTS pull=N push=N pub=N":
  PULL  commands from the client (TRACK_PRICES;EURUSD;GBPUSD, TRACK_RATES;EURUSD;1, HEARTBEAT;)
  PUSH  replies, Python dict literals ({'_action': 'heartbeat', ...})
  PUB   prices "EURUSD:|:bid;ask" of the tracked symbols every --interval seconds, and M1 rates
        "EURUSD_M1:|:time;open;high;low;close;tick_volume;spread;real_volume" every 10th tick
Every command received and every message published is a JSON line in --log:
  {"ev":"command","text":"TRACK_PRICES;EURUSD","t":...}
  {"ev":"price","symbol":"EURUSD","seq":7,"bid":"1.085280","ask":"1.085300","t":...}
and so is every connection a socket accepts or loses (its socket monitor):
  {"ev":"accepted","socket":"pub","t":...}   {"ev":"disconnected","socket":"pull","t":...}
Prices are deterministic: bid = base + seq * 0.00001 (seq counts the symbol's ticks), so a test
can tell every record's source. --untracked SYM also publishes SYM's prices though nobody asked
(a SUB prefix must filter them out); --malformed N publishes a broken price every Nth tick;
--silent tracks but never publishes (a peer that stays silent).
"""
import argparse
import json
import signal
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

BASE = {"EURUSD": 1.0852, "GBPUSD": 1.2681, "USDJPY": 151.2, "XAUUSD": 2650.1}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", default="0,0,0")
    ap.add_argument("--log", required=True)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--untracked", default="")
    ap.add_argument("--malformed", type=int, default=0)
    ap.add_argument("--silent", action="store_true")
    a = ap.parse_args()

    log = open(a.log, "a", buffering=1)

    def event(ev, **kw):
        kw["ev"] = ev
        kw["t"] = time.time()
        log.write(json.dumps(kw) + "\n")

    ctx = zmq.Context()
    socks = []
    ports = []
    for kind, want in zip((zmq.PULL, zmq.PUSH, zmq.PUB), a.ports.split(",")):
        s = ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        if kind == zmq.PUB:
            s.setsockopt(zmq.SNDHWM, 0)
        if want == "0":
            port = s.bind_to_random_port("tcp://127.0.0.1")
        else:
            s.bind("tcp://127.0.0.1:" + want)
            port = int(want)
        socks.append(s)
        ports.append(port)
    pull, push, pub = socks
    monitors = {}
    for name, s in zip(("pull", "push", "pub"), socks):
        mon = s.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        mon.setsockopt(zmq.LINGER, 0)
        monitors[mon] = name
    print("PORTS pull=%d push=%d pub=%d" % tuple(ports), flush=True)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    tracked = []
    rates = []
    seq = {}
    ticks = 0
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    for mon in monitors:
        poller.register(mon, zmq.POLLIN)
    next_tick = time.time()
    while not stop:
        wait = max(0.0, next_tick - time.time())
        ready = dict(poller.poll(wait * 1000))
        for mon, name in monitors.items():
            if ready.get(mon):
                m = recv_monitor_message(mon)
                kind = "accepted" if m["event"] == zmq.EVENT_ACCEPTED else "disconnected"
                event(kind, socket=name)
        if ready.get(pull):
            text = pull.recv().decode()
            event("command", text=text)
            parts = text.split(";")
            if parts[0] == "TRACK_PRICES":
                tracked = [p for p in parts[1:] if p]
                push.send_string("{'_action': 'TRACK_PRICES', '_data': {'symbol_count': %d,"
                                 " 'error_symbols': []}}" % len(tracked))
            elif parts[0] == "TRACK_RATES":
                rates = [p for p in parts[1::2] if p]
                push.send_string("{'_action': 'TRACK_RATES', '_data': {'instrument_count': %d,"
                                 " 'error_symbols': []}}" % len(rates))
            elif parts[0] == "HEARTBEAT":
                push.send_string("{'_action': 'heartbeat', '_response': 'loud and clear!'}")
            continue
        if time.time() < next_tick:
            continue
        next_tick += a.interval
        if a.silent:
            continue
        ticks += 1
        symbols = tracked + [s for s in a.untracked.split(",") if s and s not in tracked]
        for sym in symbols:
            n = seq.get(sym, 0) + 1
            seq[sym] = n
            bid = BASE.get(sym, 1.0) + n * 0.00001
            b, k = "%.6f" % bid, "%.6f" % (bid + 0.00002)
            if a.malformed and n % a.malformed == 0:
                pub.send_string("%s:|:%s" % (sym, b))
                event("malformed", symbol=sym, seq=n)
                continue
            pub.send_string("%s:|:%s;%s" % (sym, b, k))
            event("price", symbol=sym, seq=n, bid=b, ask=k)
        if ticks % 10 == 0:
            for sym in rates:
                o = BASE.get(sym, 1.0) + seq.get(sym, 0) * 0.00001
                bar = [int(time.time()) // 60 * 60, o, o + 0.0003, o - 0.0002, o + 0.0001, ticks, 2, 0]
                pub.send_string("%s_M1:|:%d;%.6f;%.6f;%.6f;%.6f;%d;%d;%d" % tuple([sym] + bar))
                event("bar", symbol=sym, time=bar[0], open="%.6f" % o, volume=ticks)
    for s in socks:
        s.disable_monitor()
    for s in list(monitors) + socks:
        s.close()
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
