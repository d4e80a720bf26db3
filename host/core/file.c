// file.c: descriptors of the loop's own or of an adapter's, polled as raw files (see conn.h).
#include <libwebsockets.h>
#include <string.h>
#include <unistd.h>

#include "core/conn.h"

struct lws *fh_loop_adopt_file(fh_loop *lp, int fd, fh_io *io)
{
  lws_adopt_desc_t ad;
  memset(&ad, 0, sizeof ad);
  ad.vh = fh_loop_vhost(lp);
  ad.type = LWS_ADOPT_RAW_FILE_DESC;
  ad.fd.filefd = fd;
  ad.vh_prot_name = fh_lws_protocol;
  ad.opaque = io;
  return lws_adopt_descriptor_vhost_via_info(&ad);
}

int fh_file_adopt(fh_loop *lp, fh_file *f, fh_io *io)
{
  f->wsi = fh_loop_adopt_file(lp, f->fd, io);
  return f->wsi ? 0 : -1;
}

void fh_file_close(fh_file *f)
{
  if (f->wsi) {
    lws_set_timeout(f->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
  }
}

void fh_file_closed(fh_file *f, fh_conn *c, const char *why)
{
  lws_set_opaque_user_data(f->wsi, NULL);
  f->wsi = NULL;
  f->fd = -1;
  fh_conn_gone(c, FH_EV_CLOSE, FH_CLOSE_NORMAL, 0, why);
}

void fh_file_drop(fh_file *f)
{
  if (f->wsi) {
    lws_set_opaque_user_data(f->wsi, NULL);
  } else if (f->fd >= 0) {
    close(f->fd);
  }
}
