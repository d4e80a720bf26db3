#!/usr/bin/python3
"""A minimal MQTT 3.1.1 peer that refuses some subscriptions (mosquitto grants every filter at
SUBACK and applies its ACLs on delivery): CONNECT gets CONNACK 0, SUBSCRIBE gets a SUBACK whose
code is 0x80 (failure) for topics starting with --refuse, else the QoS asked; PINGREQ gets
PINGRESP. Prints "PORT <n>"; logs "SUBSCRIBE <topic> <code>" lines to stderr.
"""
import argparse
import socket
import sys
import threading


def read_exact(c, n):
    b = b""
    while len(b) < n:
        chunk = c.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b


def read_packet(c):
    head = read_exact(c, 1)[0]
    length, shift = 0, 0
    while True:
        byte = read_exact(c, 1)[0]
        length |= (byte & 127) << shift
        shift += 7
        if not byte & 128:
            break
    return head >> 4, read_exact(c, length)


def serve(c, refuse):
    try:
        while True:
            kind, body = read_packet(c)
            if kind == 1:  # CONNECT
                c.sendall(b"\x20\x02\x00\x00")
            elif kind == 8:  # SUBSCRIBE: packet id, then (topic, qos) pairs
                pid, i, codes = body[:2], 2, b""
                while i < len(body):
                    n = int.from_bytes(body[i:i + 2], "big")
                    topic = body[i + 2:i + 2 + n].decode()
                    qos = body[i + 2 + n]
                    code = 0x80 if topic.startswith(refuse) else qos
                    print("SUBSCRIBE %s %d" % (topic, code), file=sys.stderr, flush=True)
                    codes += bytes([code])
                    i += 3 + n
                c.sendall(bytes([0x90, 2 + len(codes)]) + pid + codes)
            elif kind == 12:  # PINGREQ
                c.sendall(b"\xd0\x00")
            elif kind == 14:  # DISCONNECT
                break
    except (EOFError, OSError):
        pass
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--refuse", default="secret/")
    a = ap.parse_args()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    print("PORT %d" % s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, a.refuse), daemon=True).start()


if __name__ == "__main__":
    main()
