#!/usr/bin/env node
// A Socket.IO test server (npm socket.io 4, Engine.IO 4; --eio3 also serves Engine.IO 3
// clients): Breeze-like `join` / `leave` emits of stock codes, `stock` events for every joined
// code as positional arrays, plus the faults the integration tests need. Every event goes to a
// JSON-lines log (--log): connects with their auth, query and headers, joins, leaves, packets,
// disconnects. Prints "PORT <n>" when listening.
//
//   node sio_server.js --log F [--port 0] [--eio3] [--token T] [--rate N] [--namespace /ns]
//     [--ping-interval MS] [--ping-timeout MS] [--malformed-every K] [--binary-every K]
//     [--path /socket.io] [--disconnect-after N] [--mute-after SECS] [--string-args] [--rest-fail N]
//     [--limit N] [--rest-fail-put N]
//
// --limit N: no data after the server's Nth data event (logged once as {"ev":"silent"}), so a
// test can account for every event sent.
// XTS-like subscriptions over HTTP: POST /apimarketdata/instruments/subscription with a JSON
// body {"instruments":[{"exchangeSegment":1,"exchangeInstrumentID":22}],"xtsMessageCode":1501}
// (PUT: unsubscribe) is logged with its headers and body, answered 200 (the first N with 503
// under --rest-fail N; the first N PUTs under --rest-fail-put N), and every connected client then
// gets `1501-json-full` events for those instruments, their payload a JSON string as XTS sends
// it.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { Server } = require(path.join(__dirname, '../node/node_modules/socket.io'));

const argv = process.argv.slice(2);
function arg(name, def) {
  const i = argv.indexOf('--' + name);
  if (i < 0) return def;
  const v = argv[i + 1];
  return v === undefined || v.startsWith('--') ? true : v;
}
const LOG = arg('log');
const TOKEN = arg('token');
const RATE = Number(arg('rate', 20));
const NS = arg('namespace', '/');
const MALFORMED = Number(arg('malformed-every', 0));
const BINARY = Number(arg('binary-every', 0));
const DISCONNECT_AFTER = Number(arg('disconnect-after', 0));
const MUTE_AFTER = Number(arg('mute-after', 0));
const STRING_ARGS = arg('string-args', false) === true;
const LIMIT = Number(arg('limit', 0));

const t0 = Date.now();
function log(ev) {
  ev.t = (Date.now() - t0) / 1000;
  if (LOG) fs.appendFileSync(LOG, JSON.stringify(ev) + '\n');
}

const REST_FAIL = Number(arg('rest-fail', 0));
const REST_FAIL_PUT = Number(arg('rest-fail-put', 0));
let puts = 0;
const xts = new Map();   // "segment_id" -> instrument, subscribed over HTTP
let restCalls = 0;
const httpServer = http.createServer((req, res) => {
  if (!req.url.startsWith('/apimarketdata/instruments/subscription')) return res.writeHead(404).end();
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    restCalls++;
    if (req.method === 'PUT') puts++;
    const fail = restCalls <= REST_FAIL || (req.method === 'PUT' && puts <= REST_FAIL_PUT);
    log({ ev: 'http', method: req.method, path: req.url, headers: req.headers, body, status: fail ? 503 : 200 });
    if (fail) return res.writeHead(503, { 'content-type': 'application/json' }).end('{"type":"error","description":"try later"}');
    let msg;
    try { msg = JSON.parse(body); } catch (e) { return res.writeHead(400).end('{"type":"error"}'); }
    for (const i of msg.instruments || []) {
      const key = i.exchangeSegment + '_' + i.exchangeInstrumentID;
      if (req.method === 'PUT') xts.delete(key); else xts.set(key, i);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'success',
      code: 's-session-0001', description: 'Instrument subscribed successfully!',
      result: { mdp: msg.xtsMessageCode, quotesList: msg.instruments || [], listQuotes: [] } }));
  });
});
const io = new Server(httpServer, {
  transports: ['websocket'],
  path: arg('path', '/socket.io'),
  allowEIO3: arg('eio3', false) === true,
  pingInterval: Number(arg('ping-interval', 25000)),
  pingTimeout: Number(arg('ping-timeout', 20000)),
});

let conns = 0;
let dataSeq = 0;   // one sequence over the whole server life: records are told apart by it
let silent = false;   // --limit reached

// Stops the heartbeat of one connection: no more pings (v4), no more pongs (v3), and the server
// itself never times the client out.
function mute(sock) {
  const c = sock.conn;
  c.schedulePing = () => {};
  c.resetPingTimeout = () => {};
  clearTimeout(c.pingIntervalTimer);
  clearTimeout(c.pingTimeoutTimer);
  c.pingTimeoutTimer = null;
  const send = c.sendPacket.bind(c);
  c.sendPacket = (type, ...rest) => (type === 'ping' || type === 'pong' ? undefined : send(type, ...rest));
  log({ ev: 'muted', conn: sock.data.n });
}

io.of(NS).use((sock, next) => {
  const hs = sock.handshake;
  const auth = hs.auth || {};
  const given = auth.token !== undefined ? auth.token : hs.query.token;
  const n = ++conns;
  sock.data.n = n;
  log({ ev: 'connect', conn: n, eio: Number(hs.query.EIO), auth, query: hs.query,
    headers: hs.headers, ok: !TOKEN || given === TOKEN });
  if (TOKEN && given !== TOKEN) {
    const err = new Error('Not authorized');
    return next(err);
  }
  next();
});

io.of(NS).on('connection', (sock) => {
  const n = sock.data.n;
  const codes = new Set();
  let sent = 0;
  sock.on('join', (list) => {
    for (const c of [].concat(list)) codes.add(c);
    log({ ev: 'join', conn: n, codes: [].concat(list) });
  });
  sock.on('leave', (list) => {
    for (const c of [].concat(list)) codes.delete(c);
    log({ ev: 'leave', conn: n, codes: [].concat(list) });
  });
  sock.onAny((name, ...args) => {
    if (name !== 'join' && name !== 'leave') log({ ev: 'event', conn: n, name, args });
  });
  if (MUTE_AFTER > 0 && n === 1) setTimeout(() => mute(sock), MUTE_AFTER * 1000);
  const timer = setInterval(() => {
    for (const i of xts.values()) {
      const seq = ++dataSeq;
      const touch = { MessageCode: 1501, ExchangeSegment: i.exchangeSegment,
        ExchangeInstrumentID: i.exchangeInstrumentID, LastUpdateTime: 1385000000 + seq,
        Touchline: { BidInfo: { Size: seq, Price: 100 + seq / 100 }, AskInfo: { Size: 2, Price: 100.5 + seq / 100 },
          LastTradedPrice: 100.2 + seq / 100, LastTradedQunatity: seq, LastTradedTime: 1385000000 + seq } };
      sock.emit('1501-json-full', JSON.stringify(touch));
      log({ ev: 'data', conn: n, seq, code: i.exchangeSegment + '_' + i.exchangeInstrumentID });
    }
    for (const code of codes) {
      if (LIMIT && dataSeq >= LIMIT) {
        if (!silent) log({ ev: 'silent', conn: n, after: dataSeq });
        silent = true;
        break;
      }
      const seq = ++dataSeq;
      sent++;
      const tick = [code, seq, 100 + seq / 100, 100.5 + seq / 100, Math.floor(t0 / 1000) + seq];
      if (MALFORMED && seq % MALFORMED === 0) {
        sock.conn.write('2["stock",["' + code + '",' + seq + ',{bad');   // 42["stock",... cut short
        log({ ev: 'malformed', conn: n, seq });
      } else if (BINARY && seq % BINARY === 0) {
        sock.emit('blob', { code, seq, bytes: Buffer.from([seq & 255, 1, 2, 3]) });
        log({ ev: 'binary', conn: n, seq });
      } else {
        sock.emit('stock', STRING_ARGS ? JSON.stringify(tick) : tick);
        log({ ev: 'data', conn: n, seq, code });
      }
      if (DISCONNECT_AFTER && n === 1 && sent === DISCONNECT_AFTER) {
        log({ ev: 'server_disconnect', conn: n });
        sock.disconnect();
        return;
      }
    }
  }, 1000 / RATE);
  sock.on('disconnect', (reason) => {
    clearInterval(timer);
    log({ ev: 'disconnect', conn: n, reason });
  });
});

httpServer.listen(Number(arg('port', 0)), '127.0.0.1', () => {
  process.stdout.write('PORT ' + httpServer.address().port + '\n');
});
process.on('SIGTERM', () => process.exit(0));
