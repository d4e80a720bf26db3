// lws_client.h: what transports on libwebsockets' own client share (http.c, and any to come):
// client vhosts, one per CA file and shared by the loop's connections; handshake headers from
// "Name: value" lines; the error code of a failed connect; the TLS flags of the options.
#ifndef FH_LWS_CLIENT_H
#define FH_LWS_CLIENT_H

#include "core/conn.h"

/// The loop's client vhost for `ca_file` (NULL: the system store), made on first use.
/// @return it, or NULL with `err` (room FH_ERR_LEN) set.
struct lws_vhost *fh_lws_client_vhost(fh_loop *lp, const char *ca_file, char *err);
/// In LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: adds each "Name: value" line of `headers`
/// (may be NULL). @return 0, or -1 when they do not fit.
int fh_lws_append_headers(const char *headers, struct lws *wsi, unsigned char **p,
                          unsigned char *end);
/// What lws says of a failed connect (`why`, the HTTP status or 0), as an FH_ERR_* code.
int fh_lws_error_code(const char *why, int status);
/// LCCSCF_* flags for the options `tls` and `verify`.
int fh_lws_ssl_flags(const fh_opts *o);

#endif
