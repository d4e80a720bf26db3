// fswatch.c: the "fswatch" transport: changes of a set of files as messages, for hot reload.
//
// An inotify descriptor in the loop watches the directory of every file given (not the file:
// editors that save by writing a new file and renaming it over the old one replace the inode, and
// a watch on the file would stop there). Each event of the directory that names one of the files
// (written and closed, renamed or moved to that name, created, deleted, attributes changed) becomes
// one text message, the file's path as given; an overflow of the kernel's queue becomes an empty
// message (something changed). Coalescing bursts is the reader's business (see runtime/reload).
//
// Options: paths (the files, one per line). The connection opens at once (FH_EV_OPEN); close
// stops watching.
#include <errno.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "core/conn.h"
#include "net/transports.h"

enum {
  MASK = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB,
  MAX_FILES = 1024,
};

typedef struct watched {
  int wd;          // the directory's watch
  char *path;      // as given
  const char *base;   // its last component (inside path)
} watched;

typedef struct fswatch {
  fh_io io;
  fh_conn *c;
  fh_file f;       // the inotify descriptor
  watched *files;
  int n;
} fswatch;

// Splits `path` into its directory (a copy in `dir`, room `cap`) and its last component.
static const char *split(const char *path, char *dir, size_t cap)
{
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(dir, cap, ".");
    return path;
  }
  size_t n = (size_t)(slash - path);
  snprintf(dir, cap, "%.*s", (int)(n ? n : 1), path);   // "/x": the root
  return slash + 1;
}

static int add_file(fswatch *w, const char *path, char *err)
{
  char dir[4096];
  if (strlen(path) >= sizeof dir) {
    snprintf(err, FH_ERR_LEN, "path too long: %.64s...", path);
    return -1;
  }
  const char *base = split(path, dir, sizeof dir);
  int wd = inotify_add_watch(w->f.fd, dir, MASK | IN_ONLYDIR);
  if (wd < 0) {
    snprintf(err, FH_ERR_LEN, "cannot watch %.160s: %s", dir, strerror(errno));
    return -1;
  }
  watched *f = &w->files[w->n];
  f->path = strdup(path);
  if (!f->path) {
    snprintf(err, FH_ERR_LEN, "out of memory");
    return -1;
  }
  f->wd = wd;
  f->base = f->path + (base - path);
  w->n++;
  return 0;
}

// The events read now: one message per event that names a watched file.
static int readable(fswatch *w)
{
  char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (;;) {
    ssize_t got = read(w->f.fd, buf, sizeof buf);
    if (got <= 0) {
      return got < 0 && errno != EAGAIN && errno != EINTR ? -1 : 0;
    }
    for (char *p = buf; p < buf + got;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      p += sizeof *ev + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        fh_conn_frame(w->c, FH_FRAME_TEXT, "", 0);
        continue;
      }
      for (int i = 0; ev->len && i < w->n; i++) {
        if (w->files[i].wd == ev->wd && strcmp(w->files[i].base, ev->name) == 0) {
          fh_conn_frame(w->c, FH_FRAME_TEXT, w->files[i].path, strlen(w->files[i].path));
        }
      }
    }
  }
}

static int on_lws(fh_io *io, struct lws *wsi, int reason, void *in, size_t len)
{
  fswatch *w = (fswatch *)io;
  switch (reason) {
  case LWS_CALLBACK_RAW_RX_FILE:
    return readable(w);
  case LWS_CALLBACK_RAW_CLOSE_FILE:
    fh_file_closed(&w->f, w->c, "stopped watching");
    return 0;
  default:
    return 0;
  }
}

static int watch_open(fh_conn *c, const fh_opts *o, char *err)
{
  const char *paths = fh_opt_need(o, "paths", err);
  fswatch *w = paths ? fh_conn_state(c, sizeof *w, err) : NULL;
  if (!w) {
    return -1;
  }
  w->io.on = on_lws;
  w->c = c;
  w->f.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  w->files = calloc(MAX_FILES, sizeof *w->files);
  if (w->f.fd < 0 || !w->files) {
    snprintf(err, FH_ERR_LEN, "cannot watch files: %s",
             w->f.fd < 0 ? strerror(errno) : "out of memory");
    return -1;
  }
  for (const char *p = paths; *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    char path[4096];
    if (n && n < sizeof path && w->n < MAX_FILES) {
      memcpy(path, p, n);
      path[n] = 0;
      if (add_file(w, path, err) != 0) {
        return -1;
      }
    }
    p += n + (nl ? 1 : 0);
  }
  if (fh_file_adopt(c->lp, &w->f, &w->io) != 0) {
    snprintf(err, FH_ERR_LEN, "cannot add the file watch to the event loop");
    return -1;
  }
  fh_conn_event(c, FH_EV_OPEN, 0, 0, NULL);
  return 0;
}

static int watch_close(fh_conn *c, int code, const char *reason)
{
  fh_file_close(&((fswatch *)c->impl)->f);
  return 0;
}

static void watch_destroy(fh_conn *c)
{
  fswatch *w = c->impl;
  if (!w) {
    return;
  }
  fh_file_drop(&w->f);
  for (int i = 0; i < w->n; i++) {
    free(w->files[i].path);
  }
  free(w->files);
  free(w);
  c->impl = NULL;
}

const fh_transport fh_fswatch = {
  .name = "fswatch",
  .open = watch_open,
  .close = watch_close,
  .destroy = watch_destroy,
};
