// transports.c: the registry of transports (see transports.h).
#include "net/transports.h"

#include <string.h>

static const fh_transport *const all[] = {
  &fh_ws_client,
  &fh_ws_server,
  &fh_sio_client,
  &fh_http_client,
  &fh_mqtt,
  &fh_zmq,
  &fh_fswatch,
};

const fh_transport *fh_transport_find(const char *name)
{
  for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(all[i]->name, name) == 0) {
      return all[i];
    }
  }
  return NULL;
}
