// sio_packet.h: Socket.IO packets (protocol v4 and v5, what Engine.IO's message packet `4`
// carries), as pure functions over bytes: the header (`<type>[<n>-][<nsp>,][<ack>]<json>`), an
// EVENT's name and arguments, placeholders of binary attachments, the members of the Engine.IO
// open packet. Nothing is validated beyond what splitting needs: the JSON itself is the
// pipeline's to parse (and to count as bad).
#ifndef FH_SIO_PACKET_H
#define FH_SIO_PACKET_H

#include <stddef.h>
#include <stdint.h>

enum {
  FH_SIO_CONNECT = 0,
  FH_SIO_DISCONNECT,
  FH_SIO_EVENT,
  FH_SIO_ACK,
  FH_SIO_CONNECT_ERROR,
  FH_SIO_BINARY_EVENT,
  FH_SIO_BINARY_ACK,
  FH_SIO_MAX_ATTACHMENTS = 64,
};

typedef struct fh_sio_packet {
  int type;             // FH_SIO_*
  int attachments;      // binary packets: how many binary frames follow
  const char *ns;       // the namespace ("/" when the packet names none)
  size_t ns_len;
  long long ack;        // the ack id, or -1
  char *data;           // the JSON payload (may be empty)
  size_t data_len;
} fh_sio_packet;

/// Splits a Socket.IO packet (the bytes after Engine.IO's `4`). @return 0, or -1 when it is not
/// one (unknown type, bad attachment count).
int fh_sio_parse(char *p, size_t len, fh_sio_packet *pk);

typedef struct fh_sio_event {
  const char *name;     // the event name: the body of its JSON string (escapes kept)
  size_t name_len;
  int name_escaped;     // the name has escapes (decode it with fh_json_unescape)
  char *args;           // the one argument; or all of them as one JSON array; or "[]"
  size_t args_len;
  int nargs;            // 0, 1, or 2 for "more than one"
  int string_arg;       // the one argument is a JSON string: args is its body (escapes kept)
} fh_sio_event;

/// Splits an EVENT payload `["name", arg, ...]`. With several arguments the comma before the
/// first is overwritten with `[` (the payload must be writable), so `args` is the array of them.
/// @return 0, or -1 when the payload is not an array that starts with a string.
int fh_sio_split_event(char *p, size_t len, fh_sio_event *ev);

/// The length of the JSON value at the start of p[0..len) (strings and nesting followed, nothing
/// validated), or 0 when none ends before len.
size_t fh_json_skip(const char *p, size_t len);


/// The attachment number when p[0..len) is exactly a placeholder ({"_placeholder":true,"num":N}),
/// else -1.
int fh_sio_placeholder(const char *p, size_t len);

/// `args` with every placeholder replaced by the base64 of its attachment (as a JSON string),
/// written to dst (room `cap`); attachment i is att[off[i] .. off[i+1]). @return bytes written,
/// or 0 when dst is too small or a placeholder names no attachment.
size_t fh_sio_fill(const char *args, size_t len, const uint8_t *att, const size_t *off, int n,
                   char *dst, size_t cap);

#endif
