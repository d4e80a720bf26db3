#!/usr/bin/env node
// Socket.IO load generator (npm socket.io 4): the bench pool of ../shared/bench (Alpaca-style
// messages, dumped by its gen_server.js --dump) delivered as Socket.IO events `42["m",<message>]`.
// Per connection, once the client's namespace is connected, N messages, then a disconnect (41).
//
//   node sio_gen.js --pool pool.ndjson [--port 9300] [--n 1000000] [--event m]
//
// Per-connection query (on the handshake URL): n, tag, mode:
//   mode=frames (default): each event is pre-encoded once as a WebSocket frame and the pool is
//                          written to the socket in bulk (server cost close to zero, like
//                          gen_server.js's frames mode), after the Socket.IO handshake
//   mode=emit:             one socket.emit() per message (a typical Socket.IO server's cost)
// One JSON line per finished connection on stdout.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { Server } = require(path.join(__dirname, '../integration/node/node_modules/socket.io'));

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : def;
}
const PORT = Number(arg('port', 9300));
const DEFAULT_N = Number(arg('n', 1000000));
const EVENT = arg('event', 'm');
const messages = fs.readFileSync(arg('pool'), 'utf8').split('\n').filter((l) => l.length);
const POOL = messages.length;
const parsed = messages.map((m) => JSON.parse(m));
const payloadBytes = messages.map((s) => Buffer.byteLength(s));
const poolPayload = payloadBytes.reduce((a, b) => a + b, 0);

function frame(str) {   // an unmasked server text frame (FIN|TEXT)
  const payload = Buffer.from(str, 'utf8');
  const n = payload.length;
  const hdr = n < 126 ? Buffer.from([0x81, n]) : Buffer.from([0x81, 126, n >> 8, n & 0xff]);
  return Buffer.concat([hdr, payload]);
}
const prefix = '42' + JSON.stringify([EVENT]).slice(0, -1) + ',';
const frames = messages.map((m) => frame(prefix + m + ']'));
const poolBuf = Buffer.concat(frames);

const drained = (s) => new Promise((res, rej) => {
  const onDrain = () => { s.off('close', onClose); res(); };
  const onClose = () => { s.off('drain', onDrain); rej(new Error('peer closed')); };
  s.once('drain', onDrain);
  s.once('close', onClose);
});

async function sendFrames(sock, n) {
  const raw = sock.conn.transport.socket._socket;   // the TCP socket under ws
  let left = n;
  while (left >= POOL) {
    left -= POOL;
    if (!raw.write(poolBuf)) await drained(raw);
  }
  if (left > 0 && !raw.write(Buffer.concat(frames.slice(0, left)))) await drained(raw);
}

async function sendEach(sock, n) {
  const ws = sock.conn.transport.socket;
  for (let i = 0; i < n; i++) {
    sock.emit(EVENT, parsed[i % POOL]);
    if (ws.bufferedAmount > (4 << 20)) await drained(ws._socket);
  }
}

const httpServer = http.createServer((req, res) => res.writeHead(404).end());
const io = new Server(httpServer, { transports: ['websocket'], perMessageDeflate: false,
  allowEIO3: true, maxHttpBufferSize: 1e6 });
io.on('connection', (sock) => {
  const q = sock.handshake.query;
  const n = Number(q.n || DEFAULT_N);
  const mode = q.mode || 'frames';
  sock.conn.transport.socket._socket.setNoDelay(true);
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  (mode === 'emit' ? sendEach : sendFrames)(sock, n).then(() => {
    sock.disconnect(true);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const full = Math.floor(n / POOL), rest = n % POOL;
    let bytes = full * poolPayload;
    for (let i = 0; i < rest; i++) bytes += payloadBytes[i];
    console.log(JSON.stringify({ role: 'server', impl: 'socket.io', tag: q.tag || '', mode, msgs: n,
      payload_bytes: bytes, send_secs: +secs.toFixed(3), cpu_user: cpu.user / 1e6, cpu_sys: cpu.system / 1e6 }));
  }, (e) => console.error('send failed:', e.message));
});
httpServer.listen(PORT, '127.0.0.1', () =>
  console.error(`sio_gen: http://127.0.0.1:${PORT}/socket.io/ pool=${POOL} msgs default n=${DEFAULT_N}`));
