// ws_proto.c: see ws_proto.h.
#include "net/ws_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "codec/ws_frame.h"

int fh_buf_append(void *bufp, size_t *len, size_t *cap, const void *p, size_t n, size_t first)
{
  char **buf = bufp;
  if (*len + n > *cap) {
    size_t c = *cap ? *cap : first;
    while (c < *len + n) {
      c *= 2;
    }
    char *nb = realloc(*buf, c);
    if (!nb) {
      return -1;
    }
    *buf = nb;
    *cap = c;
  }
  memcpy(*buf + *len, p, n);
  *len += n;
  return 0;
}

void fh_wsp_free(fh_wsp *w)
{
  free(w->pend);
  free(w->rx);
  if (w->z) {
    inflateEnd(w->z);
    free(w->z);
  }
  free(w->zout);
  w->pend = NULL;
  w->rx = NULL;
  w->z = NULL;
  w->zout = NULL;
}

// The connection is closed for a protocol violation: the code and reason are what the host
// reports.
static int protocol_error(fh_wsp *w, const char *why)
{
  w->peer_code = FH_CLOSE_PROTOCOL;
  snprintf(w->peer_reason, sizeof w->peer_reason, "protocol error: %s", why);
  return -1;
}

static int rx_append(fh_wsp *w, const uint8_t *p, size_t n)
{
  return fh_buf_append(&w->rx, &w->rx_len, &w->rx_cap, p, n, 4096);
}

// A data frame over the size limit (or the rest of a message that was): skipped, counted once.
static void skip_frame(fh_wsp *w, const fh_ws_header *h, uint64_t total)
{
  if (!w->rx_skip) {
    w->c->st.oversize++;
    fh_conn_event(w->c, FH_EV_OVERSIZE, total > INT32_MAX ? INT32_MAX : (int)total, 0, NULL);
  }
  w->rx_skip = !h->fin;
  w->in_msg = 0;
  w->rx_len = 0;
  w->skip_left = h->len;
}

static void peer_close(fh_wsp *w, const uint8_t *pl, size_t len)
{
  w->peer_code = len >= 2 ? (pl[0] << 8) | pl[1] : FH_CLOSE_NO_STATUS;
  if (len > 2) {
    size_t rl = len - 2 < sizeof w->peer_reason - 1 ? len - 2 : sizeof w->peer_reason - 1;
    memcpy(w->peer_reason, pl + 2, rl);
    w->peer_reason[rl] = 0;
  }
  if (!w->closing) {  // answer with the same code; the transport closes once it is written
    w->out(w, FH_WS_CLOSE, pl, len >= 2 ? 2 : 0);
    w->closing = 1;
    w->close_code = w->peer_code;
  }
}

// Inflates a compressed message into w->zout (at most max_frame bytes). @return its length, -1
// bad data, -2 larger than max_frame (a "zip bomb" stops there), -3 larger than max_frame with
// the compression window shared by the messages after it.
static long inflate_msg(fh_wsp *w, const uint8_t *in, size_t len)
{
  z_stream *z = w->z;
  if (!z) {
    z = calloc(1, sizeof *z);
    // the largest window reads whatever the server's is (zlib's deflate makes a window of 8 bits
    // one of 9, which an inflater of 8 refuses)
    if (!z || inflateInit2(z, -15) != Z_OK) {
      free(z);
      return -1;
    }
    w->z = z;
  }
  static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };   // RFC 7692 7.2.2
  size_t out = 0;
  for (int part = 0; part < 2; part++) {
    z->next_in = (Bytef *)(part ? tail : in);
    z->avail_in = (uInt)(part ? sizeof tail : len);
    while (z->avail_in > 0) {
      if (out == w->zout_cap) {
        if (w->zout_cap > w->c->max_frame) {
          // stopped within the message: with a window per message the next one starts clean;
          // with the window shared across messages (context takeover) the next ones cannot be
          // read from here (-3)
          if (!w->deflate_reset) {
            return -3;
          }
          inflateReset(z);
          return -2;
        }
        size_t cap = w->zout_cap ? w->zout_cap * 2 : 65536;
        uint8_t *nb = realloc(w->zout, cap);
        if (!nb) {
          return -1;
        }
        w->zout = nb;
        w->zout_cap = cap;
      }
      z->next_out = w->zout + out;
      z->avail_out = (uInt)(w->zout_cap - out);
      int rc = inflate(z, Z_SYNC_FLUSH);
      out = w->zout_cap - z->avail_out;
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return -1;
      }
      if (rc == Z_BUF_ERROR && z->avail_out > 0) {
        break;   // no progress possible on this input
      }
    }
  }
  if (w->deflate_reset) {
    inflateReset(z);
  }
  return out > w->c->max_frame ? -2 : (long)out;
}

// A whole message: text must be UTF-8 (RFC 6455 5.6); one that is not is dropped and counted.
static int deliver(fh_wsp *w, int binary, const void *data, size_t len)
{
  if (w->rx_compressed) {
    w->rx_compressed = 0;
    long n = inflate_msg(w, data, len);
    if (n == -2 || n == -3) {
      size_t over = w->c->max_frame + 1;
      w->c->st.oversize++;
      fh_conn_event(w->c, FH_EV_OVERSIZE, over > INT32_MAX ? INT32_MAX : (int)over, 0, NULL);
      if (n == -3) {
        return protocol_error(w, "a compressed message over max_frame_bytes: the compression"
                                 " window the next messages need is lost");
      }
      return 0;
    }
    if (n < 0) {
      return protocol_error(w, "bad compressed message");
    }
    data = w->zout;
    len = (size_t)n;
  }
  int kind = binary ? FH_FRAME_BINARY : FH_FRAME_TEXT;
  if (!binary && !fh_conn_text_ok(w->c, data, len)) {
    return 0;
  }
  if (w->msg) {   // the protocol above (Socket.IO) takes it
    return w->msg(w, kind, (uint8_t *)data, len);
  }
  fh_conn_frame(w->c, kind, data, len);
  return 0;
}

// One whole frame whose payload is at pl.
static int frame(fh_wsp *w, const fh_ws_header *h, uint8_t *pl)
{
  size_t len = (size_t)h->len;
  if (h->masked) {
    fh_ws_unmask(pl, len, h->mask, 0);
  }
  switch (h->opcode) {
  case FH_WS_TEXT:
  case FH_WS_BINARY:
    w->rx_compressed = h->compressed;
    if (h->fin) {
      return deliver(w, h->opcode == FH_WS_BINARY, pl, len);
    }
    w->in_msg = 1;
    w->rx_binary = h->opcode == FH_WS_BINARY;
    w->rx_len = 0;
    return rx_append(w, pl, len) ? protocol_error(w, "out of memory") : 0;
  case FH_WS_CONT:
    if (h->compressed) {
      return protocol_error(w, "RSV1 on a continuation frame");
    }
    if (rx_append(w, pl, len)) {
      return protocol_error(w, "out of memory");
    }
    if (h->fin) {
      size_t n = w->rx_len;
      w->rx_len = 0;
      w->in_msg = 0;
      return deliver(w, w->rx_binary, w->rx, n);
    }
    return 0;
  case FH_WS_PING:
    w->out(w, FH_WS_PONG, pl, len);
    return 0;
  case FH_WS_PONG:
    fh_conn_event(w->c, FH_EV_PONG, 0, 0, NULL);
    return 0;
  case FH_WS_CLOSE:
    peer_close(w, pl, len);
    return 0;
  default:
    return 0;
  }
}

// Parses whole frames from p[0..n); *done = bytes consumed. @return 0, or -1 to close.
static int parse(fh_wsp *w, uint8_t *p, size_t n, size_t *done)
{
  size_t off = 0;
  int rc = 0;
  while (off < n && rc == 0) {
    if (w->skip_left) {
      size_t k = n - off < w->skip_left ? n - off : (size_t)w->skip_left;
      w->skip_left -= k;
      off += k;
      continue;
    }
    if (w->closing) {  // after a close frame nothing more is read
      off = n;
      break;
    }
    fh_ws_header h;
    int r = fh_ws_parse_header_ext(p + off, n - off, &h, w->deflate);
    if (r == 0) {
      break;
    }
    if (r < 0) {
      rc = protocol_error(w, "bad frame header");
      break;
    }
    if (h.masked != w->server) {
      rc = protocol_error(w, w->server ? "unmasked frame from the client"
                                       : "masked frame from the server");
      break;
    }
    if (h.opcode <= FH_WS_BINARY) {
      int cont = h.opcode == FH_WS_CONT;
      if (cont ? !(w->in_msg || w->rx_skip) : (w->in_msg || w->rx_skip)) {
        rc = protocol_error(w, "unexpected continuation");
        break;
      }
      uint64_t total = (cont ? w->rx_len : 0) + h.len;
      if (w->rx_skip || total > w->c->max_frame) {
        skip_frame(w, &h, total);
        off += h.size;
        continue;
      }
    }
    if (n - off < h.size || n - off - h.size < h.len) {
      break;  // the rest of this frame has not arrived yet
    }
    uint8_t *pl = p + off + h.size;
    off += h.size + (size_t)h.len;
    rc = frame(w, &h, pl);
  }
  *done = off;
  return rc;
}

int fh_wsp_rx(fh_wsp *w, const uint8_t *in, size_t len)
{
  size_t done = 0;
  if (w->pend_len == 0) {
    // the common case: parse straight from the transport's buffer, keep only a partial frame
    int rc = parse(w, (uint8_t *)in, len, &done);
    if (rc == 0 && done < len &&
        fh_buf_append(&w->pend, &w->pend_len, &w->pend_cap, in + done, len - done, 65536)) {
      return protocol_error(w, "out of memory");
    }
    return rc;
  }
  if (fh_buf_append(&w->pend, &w->pend_len, &w->pend_cap, in, len, 65536)) {
    return protocol_error(w, "out of memory");
  }
  int rc = parse(w, w->pend, w->pend_len, &done);
  w->pend_len -= done;
  memmove(w->pend, w->pend + done, w->pend_len);
  return rc;
}

int fh_wsp_send(fh_wsp *w, int kind, const char *data, size_t len)
{
  if (w->closing) {
    return -1;
  }
  int op = kind == 0 ? FH_WS_PING : kind == FH_FRAME_BINARY ? FH_WS_BINARY : FH_WS_TEXT;
  return w->out(w, op, data, len);
}

void fh_wsp_close(fh_wsp *w, int code, const char *reason)
{
  if (w->closing) {
    return;
  }
  w->close_code = code;
  snprintf(w->close_reason, sizeof w->close_reason, "%s", reason ? reason : "");
  uint8_t payload[2 + sizeof w->close_reason];
  payload[0] = (uint8_t)(code >> 8);
  payload[1] = (uint8_t)code;
  size_t rl = strlen(w->close_reason);
  memcpy(payload + 2, w->close_reason, rl);
  w->out(w, FH_WS_CLOSE, payload, 2 + (rl > 123 ? 123 : rl));
  w->closing = 1;
}

void fh_wsp_gone(fh_wsp *w)
{
  if (w->peer_code) {
    fh_conn_gone(w->c, FH_EV_CLOSE, w->peer_code, 0, w->peer_reason);
  } else if (w->closing) {
    fh_conn_gone(w->c, FH_EV_CLOSE, w->close_code, 0, "closed by host");
  } else {
    fh_conn_gone(w->c, FH_EV_CLOSE, FH_CLOSE_LOST, 0, "connection lost");
  }
}
