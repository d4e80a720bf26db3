// tls_bio.c: see tls_bio.h. The SSL_CTXs (one per CA file and verify setting) hang off the loop.
#include "net/tls_bio.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"

struct fh_tls {
  SSL *ssl;
};

typedef struct ctx_entry {
  SSL_CTX *ctx;
  char *ca_file;
  int verify;
  struct ctx_entry *next;
} ctx_entry;

typedef struct ctx_cache {
  ctx_entry *first;
} ctx_cache;

static const char CACHE_KEY[] = "tls-bio";

static void cache_free(void *p)
{
  ctx_cache *cc = p;
  while (cc->first) {
    ctx_entry *e = cc->first;
    cc->first = e->next;
    SSL_CTX_free(e->ctx);
    free(e->ca_file);
    free(e);
  }
  free(cc);
}

// Two optional CA file paths name the same trust (both absent, or equal).
static int same_file(const char *a, const char *b)
{
  return (!a && !b) || (a && b && !strcmp(a, b));
}

static SSL_CTX *ctx_for(fh_loop *lp, const char *ca_file, int verify, char *err)
{
  ctx_cache *cc = fh_loop_attached(lp, CACHE_KEY);
  if (!cc) {
    cc = calloc(1, sizeof *cc);
    if (!cc || fh_loop_attach(lp, CACHE_KEY, cc, cache_free) != 0) {
      free(cc);
      snprintf(err, FH_ERR_LEN, "out of memory");
      return NULL;
    }
  }
  for (ctx_entry *e = cc->first; e; e = e->next) {
    if (e->verify == verify && same_file(ca_file, e->ca_file)) {
      return e->ctx;
    }
  }
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    snprintf(err, FH_ERR_LEN, "TLS: cannot create a context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  if (verify && (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
    ERR_clear_error();
    snprintf(err, FH_ERR_LEN, "TLS: cannot load the CA file %s", ca_file ? ca_file : "(system)");
    SSL_CTX_free(ctx);
    return NULL;
  }
  ctx_entry *e = calloc(1, sizeof *e);
  if (!e || (ca_file && !(e->ca_file = strdup(ca_file)))) {
    free(e);
    SSL_CTX_free(ctx);
    snprintf(err, FH_ERR_LEN, "out of memory");
    return NULL;
  }
  e->ctx = ctx;
  e->verify = verify;
  e->next = cc->first;
  cc->first = e;
  return ctx;
}

fh_tls *fh_tls_new(fh_loop *lp, const char *host, int verify, const char *ca_file, char *err)
{
  SSL_CTX *ctx = ctx_for(lp, ca_file, verify, err);
  if (!ctx) {
    return NULL;
  }
  fh_tls *t = calloc(1, sizeof *t);
  SSL *ssl = t ? SSL_new(ctx) : NULL;
  BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
  if (!ssl || !rb || !wb) {
    SSL_free(ssl);
    BIO_free(rb);
    BIO_free(wb);
    free(t);
    snprintf(err, FH_ERR_LEN, "out of memory");
    return NULL;
  }
  SSL_set_bio(ssl, rb, wb);
  SSL_set_connect_state(ssl);
  t->ssl = ssl;
  unsigned char addr[16];
  int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
  if (!is_ip) {
    SSL_set_tlsext_host_name(ssl, host);
  }
  if (verify) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
               : X509_VERIFY_PARAM_set1_host(param, host, 0)) != 1) {
      fh_tls_free(t);
      snprintf(err, FH_ERR_LEN, "TLS: bad host name %s", host);
      return NULL;
    }
  }
  return t;
}

void fh_tls_free(fh_tls *t)
{
  if (t) {
    SSL_free(t->ssl);   // and its BIOs
    free(t);
  }
}

int fh_tls_handshake(fh_tls *t)
{
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    return 1;
  }
  int e = SSL_get_error(t->ssl, r);
  return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

int fh_tls_feed(fh_tls *t, const uint8_t *in, size_t len)
{
  while (len) {
    int chunk = len > 1 << 30 ? 1 << 30 : (int)len;
    int n = BIO_write(SSL_get_rbio(t->ssl), in, chunk);
    if (n <= 0) {
      return -1;
    }
    in += n;
    len -= (size_t)n;
  }
  return 0;
}

int fh_tls_read(fh_tls *t, uint8_t *buf, size_t cap)
{
  int n = SSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
  if (n > 0) {
    return n;
  }
  int e = SSL_get_error(t->ssl, n);
  if (e == SSL_ERROR_WANT_READ) {
    return 0;
  }
  return e == SSL_ERROR_ZERO_RETURN ? -1 : -2;
}

int fh_tls_write(fh_tls *t, const void *data, size_t len)
{
  return len == 0 || SSL_write(t->ssl, data, (int)len) > 0 ? 0 : -1;
}

size_t fh_tls_pending(fh_tls *t)
{
  return BIO_ctrl_pending(SSL_get_wbio(t->ssl));
}

size_t fh_tls_take(fh_tls *t, uint8_t *dst, size_t cap)
{
  int n = BIO_read(SSL_get_wbio(t->ssl), dst, cap > INT32_MAX ? INT32_MAX : (int)cap);
  return n > 0 ? (size_t)n : 0;
}

int fh_tls_why(fh_tls *t, char *why, size_t cap)
{
  long vr = SSL_get_verify_result(t->ssl);
  if (vr != X509_V_OK) {
    snprintf(why, cap, "server certificate not accepted: %s", X509_verify_cert_error_string(vr));
    ERR_clear_error();
    return FH_ERR_TLS_CERT;
  }
  unsigned long e = ERR_get_error();
  char buf[200];
  ERR_error_string_n(e, buf, sizeof buf);
  snprintf(why, cap, "TLS handshake failed: %s", e ? buf : "connection closed");
  ERR_clear_error();
  return FH_ERR_TLS;
}
