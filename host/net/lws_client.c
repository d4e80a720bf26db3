// lws_client.c: see lws_client.h.
#define _GNU_SOURCE   // strcasestr
#include "net/lws_client.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/transports.h"

typedef struct vhost_entry {
  struct lws_vhost *vh;   // freed with the lws context
  char *ca_file;
  struct vhost_entry *next;
} vhost_entry;

typedef struct vhost_list {
  vhost_entry *first;
} vhost_list;

static void vhosts_free(void *p)
{
  vhost_list *list = p;
  while (list->first) {
    vhost_entry *e = list->first;
    list->first = e->next;
    free(e->ca_file);
    free(e);
  }
  free(list);
}

struct lws_vhost *fh_lws_client_vhost(fh_loop *lp, const char *ca_file, char *err)
{
  static const char key[] = "lws-client-vhosts";
  vhost_list *list = fh_loop_attached(lp, key);
  if (!list) {
    list = calloc(1, sizeof *list);
    if (!list || fh_loop_attach(lp, key, list, vhosts_free) != 0) {
      free(list);
      snprintf(err, FH_ERR_LEN, "out of memory");
      return NULL;
    }
  }
  for (vhost_entry *e = list->first; e; e = e->next) {
    if ((!ca_file && !e->ca_file) || (ca_file && e->ca_file && !strcmp(ca_file, e->ca_file))) {
      return e->vh;
    }
  }
  vhost_entry *e = calloc(1, sizeof *e);
  if (!e || (ca_file && !(e->ca_file = strdup(ca_file)))) {
    free(e);
    snprintf(err, FH_ERR_LEN, "out of memory");
    return NULL;
  }
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = fh_loop_protocols();
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.client_ssl_ca_filepath = ca_file;
  char name[32];
  snprintf(name, sizeof name, "client%p", (void *)e);
  info.vhost_name = name;
  e->vh = lws_create_vhost(fh_loop_lws(lp), &info);
  if (!e->vh) {
    snprintf(err, FH_ERR_LEN, "cannot set up TLS%s%s", ca_file ? " with CA file " : "",
             ca_file ? ca_file : "");
    free(e->ca_file);
    free(e);
    return NULL;
  }
  e->next = list->first;
  list->first = e;
  return e->vh;
}

int fh_lws_append_headers(const char *headers, struct lws *wsi, unsigned char **p,
                          unsigned char *end)
{
  char name[256];
  for (const char *line = headers; line && *line;) {
    const char *nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) : strlen(line);
    const char *colon = memchr(line, ':', n);
    if (colon && (size_t)(colon - line) + 2 < sizeof name) {
      size_t nlen = (size_t)(colon - line) + 1;   // the name keeps its colon
      memcpy(name, line, nlen);
      name[nlen] = 0;
      const char *v = colon + 1;
      while (v < line + n && *v == ' ') {
        v++;
      }
      if (lws_add_http_header_by_name(wsi, (unsigned char *)name, (const unsigned char *)v,
                                      (int)(line + n - v), p, end)) {
        return -1;
      }
    }
    line += n;
    if (*line == '\n') {
      line++;
    }
  }
  return 0;
}

int fh_lws_error_code(const char *why, int status)
{
  if (status > 0) {
    return FH_ERR_HTTP;
  }
  if (strcasestr(why, "certificate") || strcasestr(why, "verify")) {
    return FH_ERR_TLS_CERT;
  }
  if (strcasestr(why, "ssl") || strcasestr(why, "tls")) {
    return FH_ERR_TLS;
  }
  return FH_ERR_CONNECT;
}

int fh_lws_ssl_flags(const fh_opts *o)
{
  if (!fh_opt_bool(o, "tls", 0)) {
    return 0;
  }
  int ssl = LCCSCF_USE_SSL;
  if (!fh_opt_bool(o, "verify", 1)) {
    ssl |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
           LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
  }
  return ssl;
}
