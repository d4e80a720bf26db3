#!/usr/bin/python3
"""The bench pool over WebSocket, MQTT (mosquitto, QoS 0) and ZeroMQ (PUB), in one run.

Each transport's subscribers take the same N messages (../shared/bench's pool of Alpaca-style
messages, about 248 bytes, 2.07 records each): feedhost (`bench-client`, specs/alpaca.lua's
market-data pipeline: records made) beside the peer's own ceiling, a subscriber that only counts:
  WebSocket  ../shared/bench gen_server.js (frames mode)  ->  raw_ws_count (no library, counts)
  MQTT       mqtt_blast -> mosquitto                      ->  mqtt_raw_count (no library, counts),
                                                              paho_count (paho MQTTAsync, counts)
  ZeroMQ     zmq_blast (XPUB, waits for the subscription) ->  zmq_count (libzmq SUB, counts)
Publishers and brokers run on SERVER_CPU, subscribers on CLIENT_CPU; rounds are interleaved
(every client once, then again) and the table gives medians. msg/s is first to last message at
the subscriber.

  make && spec/bench/mq/run.py                    # N=1000000 REPS=3
  N=200000 REPS=1 spec/bench/mq/run.py

Environment: N REPS SERVER_CPU CLIENT_CPU FEEDHOST BENCH_WORK SHARED_BENCH PY
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
N = int(os.environ.get("N", "1000000"))
REPS = int(os.environ.get("REPS", "3"))
SCPU = os.environ.get("SERVER_CPU", "0")
CCPU = os.environ.get("CLIENT_CPU", "1")
FEEDHOST = os.environ.get("FEEDHOST", os.path.join(ROOT, "build", "feedhost"))
WORK = os.environ.get("BENCH_WORK", "/tmp/feedhost-mq-bench")
SHARED = os.environ.get("SHARED_BENCH", os.path.join(ROOT, "..", "shared", "bench"))
SPEC = os.path.join(ROOT, "specs", "alpaca.lua")


def pinned(cpu, argv):
    return ["taskset", "-c", cpu] + argv


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, secs, what):
    deadline = time.time() + secs
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise SystemExit("timed out waiting for " + what)


def build():
    os.makedirs(WORK, exist_ok=True)
    shared = os.path.join(WORK, "shared")
    if not os.path.isdir(shared):
        shutil.copytree(SHARED, shared)
        for root, dirs, files in os.walk(shared):
            for n in dirs + files:
                os.chmod(os.path.join(root, n), 0o755)
    if not os.path.isdir(os.path.join(shared, "node_modules", "ws")):
        subprocess.check_call(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=shared,
                              stdout=subprocess.DEVNULL)
    subprocess.check_call(["make", "-s", "clients/raw_ws_count"], cwd=shared)
    flags = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    for tool, libs in (("mqtt_blast", []), ("mqtt_raw_count", []), ("zmq_blast", ["-lzmq"]),
                       ("zmq_count", ["-lzmq"]), ("paho_count", ["-lpaho-mqtt3as"])):
        subprocess.check_call(["cc"] + flags + ["-o", os.path.join(WORK, tool),
                                                os.path.join(HERE, tool + ".c")] + libs)
    return shared


class Mosquitto:
    def __init__(self):
        self.port = free_port()
        self.log = os.path.join(WORK, "mosquitto.log")
        open(self.log, "w").close()
        conf = os.path.join(WORK, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\nlog_dest file %s\n"
                    "log_type subscribe\nlog_type error\npersistence false\nmax_queued_messages 0\n"
                    % (self.port, self.log))
            if os.geteuid() == 0:
                f.write("user root\n")
        self.proc = subprocess.Popen(pinned(SCPU, ["mosquitto", "-c", conf]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.proc.poll() is None and self.listening(), 10, "mosquitto")

    def listening(self):
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def subscribes(self):
        with open(self.log) as f:
            return f.read().count(" bench/")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(5)


def result_line(text):
    for line in text.splitlines():
        if line.startswith("{") and '"msg_per_s"' in line:
            return json.loads(line)
    raise SystemExit("no result line in:\n" + text)


def run_client(argv, before_publish=None, publisher=None):
    """Starts a subscriber; once it is ready (before_publish), starts the publisher; returns the
    subscriber's result line."""
    sub = subprocess.Popen(pinned(CCPU, argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    pub = None
    if before_publish:
        before_publish()
    if publisher:
        pub = subprocess.Popen(pinned(SCPU, publisher), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    out, err = sub.communicate(timeout=600)
    if pub:
        pub.wait(60)
    if sub.returncode != 0 and '"msg_per_s"' not in out:
        raise SystemExit("client failed: %s\n%s" % (" ".join(argv), err))
    return result_line(out)


def main():
    shared = build()
    pool = os.path.join(WORK, "pool.ndjson")
    ws_port = free_port()
    gen = subprocess.Popen(pinned(SCPU, ["node", "gen_server.js", "--port", str(ws_port), "--n", str(N),
                                         "--dump", pool]), cwd=shared, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    wait_for(lambda: os.path.exists(pool) and os.path.getsize(pool) > 0 and gen.poll() is None,
             30, "gen_server.js")
    time.sleep(0.5)   # the pool file is complete once the server listens
    broker = Mosquitto()
    results = {}

    def record(key, r):
        results.setdefault(key, []).append(r)
        print(json.dumps(dict(r, case=key)), file=sys.stderr, flush=True)

    def mqtt_ready(before):
        return lambda: wait_for(lambda: broker.subscribes() > before, 10, "the MQTT subscription")

    def blast_mqtt():
        return [os.path.join(WORK, "mqtt_blast"), "127.0.0.1", str(broker.port), "bench/alpaca",
                pool, str(N)]

    try:
        for rep in range(REPS):
            path = "/?n=%d&mode=frames&tag=r%d" % (N, rep)
            record("ws feedhost", run_client([FEEDHOST, "bench-client", "--port", str(ws_port),
                                              "--path", path, "--spec", SPEC]))
            record("ws raw count", run_client([os.path.join(shared, "clients", "raw_ws_count"),
                                               str(ws_port), path]))
            n0 = broker.subscribes()
            record("mqtt feedhost", run_client(
                [FEEDHOST, "bench-client", "--backend", "mqtt", "--connect", "tcp://127.0.0.1:%d" % broker.port,
                 "--topic", "bench/alpaca", "--msgs", str(N), "--spec", SPEC], mqtt_ready(n0), blast_mqtt()))
            n0 = broker.subscribes()
            record("mqtt raw count", run_client(
                [os.path.join(WORK, "mqtt_raw_count"), "127.0.0.1", str(broker.port), "bench/alpaca",
                 str(N)], mqtt_ready(n0), blast_mqtt()))
            n0 = broker.subscribes()
            record("mqtt paho count", run_client(
                [os.path.join(WORK, "paho_count"), "tcp://127.0.0.1:%d" % broker.port, "bench/alpaca",
                 str(N)], mqtt_ready(n0), blast_mqtt()))
            for case, argv in (("zmq feedhost", [FEEDHOST, "bench-client", "--backend", "zmq",
                                                 "--msgs", str(N), "--spec", SPEC, "--connect"]),
                               ("zmq count", [os.path.join(WORK, "zmq_count")])):
                zport = free_port()
                blaster = subprocess.Popen(pinned(SCPU, [os.path.join(WORK, "zmq_blast"), pool, str(N),
                                                         str(zport)]),
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                blaster.stdout.readline()
                ep = "tcp://127.0.0.1:%d" % zport
                record(case, run_client(argv + [ep] if case == "zmq feedhost" else argv + [ep, str(N)]))
                blaster.wait(60)
    finally:
        broker.stop()
        gen.send_signal(signal.SIGTERM)
        gen.wait(5)

    print("\n| transport | subscriber | msg/s (median of %d) | records/s | vs ceiling | records | dropped |" % REPS)
    print("| --- | --- | --- | --- | --- | --- | --- |")
    ceilings = {"ws": "ws raw count", "mqtt": "mqtt raw count", "zmq": "zmq count"}
    for key in ("ws feedhost", "ws raw count", "mqtt feedhost", "mqtt raw count", "mqtt paho count",
                "zmq feedhost", "zmq count"):
        rs = results[key]
        rate = statistics.median(r["msg_per_s"] for r in rs)
        recs = [r["records"] for r in rs if r.get("records", -1) >= 0]
        rps = statistics.median(r["records"] / r["secs"] for r in rs) if recs else None
        ceiling = statistics.median(r["msg_per_s"] for r in results[ceilings[key.split()[0]]])
        print("| %s | %s | %s | %s | %.2f | %s | %s |" % (
            key.split()[0], " ".join(key.split()[1:]), format(int(rate), ","),
            format(int(rps), ",") if rps else "-", rate / ceiling,
            format(recs[0], ",") if recs else "-",
            ",".join(str(r.get("dropped", 0)) for r in rs) if recs else "-"))


if __name__ == "__main__":
    main()
