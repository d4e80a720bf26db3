// tls_bio.h: a TLS client over memory BIOs. The transport moves the bytes: what arrives from the
// socket goes in with fh_tls_feed, what OpenSSL wants sent comes out with fh_tls_take, and the
// plaintext goes through fh_tls_read / fh_tls_write. Certificates are checked (chain, and the
// host name or IP address) unless verification is off. Contexts are shared per loop and trust.
#ifndef FH_TLS_BIO_H
#define FH_TLS_BIO_H

#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

typedef struct fh_tls fh_tls;

/// A client session for `host` (SNI for names). @return NULL with `err` (room 256) set.
fh_tls *fh_tls_new(fh_loop *lp, const char *host, int verify, const char *ca_file, char *err);
void fh_tls_free(fh_tls *t);
/// Starts or continues the handshake. @return 1 done, 0 in progress, -1 failed (fh_tls_why).
int fh_tls_handshake(fh_tls *t);
/// Encrypted bytes from the peer. @return 0, or -1 out of memory.
int fh_tls_feed(fh_tls *t, const uint8_t *in, size_t len);
/// Plaintext from the peer. @return bytes (> 0), 0 when more input is needed, -1 the peer
/// closed (close_notify), -2 an error (fh_tls_why).
int fh_tls_read(fh_tls *t, uint8_t *buf, size_t cap);
/// Plaintext to the peer (encrypted into the pending output). @return 0 or -1.
int fh_tls_write(fh_tls *t, const void *data, size_t len);
/// Encrypted bytes waiting to be sent, and taking them (up to `cap`). @return bytes taken.
size_t fh_tls_pending(fh_tls *t);
size_t fh_tls_take(fh_tls *t, uint8_t *dst, size_t cap);
/// Why the handshake or a read failed. @return FH_ERR_TLS_CERT for a refused certificate (its
/// reason in `why`), FH_ERR_TLS otherwise.
int fh_tls_why(fh_tls *t, char *why, size_t cap);

#endif
