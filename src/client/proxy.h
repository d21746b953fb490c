/* SPDX-License-Identifier: Apache-2.0
 *
 * client/proxy.h: `gloam proxy`, a localhost OpenAI endpoint that seals
 * every request on this machine (docs/client.md "Proxy").
 *
 *   client_proxy *p;  int port;
 *   client_proxy_new(&p, base, client, "127.0.0.1:0", &port, err);
 *   event_base_dispatch(base);   // until event_base_loopbreak
 *   client_proxy_free(p);
 *
 * Routes: POST /v1/chat/completions (streaming and not), POST
 * /v1/audio/transcriptions and /v1/audio/translations (proxy_audio.h),
 * GET /health, and
 * relayed to the coordinator as they are: GET /v1/models, /v1/models/{id},
 * /v1/nodes, /v1/balance and /v1/usage (the last two with the proxy's API
 * key). Chat responses carry Gloam-Mode: client-sealed, Gloam-Node and
 * Gloam-Trust headers, and a "gloam" object (node, trust, receipt, whether
 * it verified) in the JSON body, or in a last chunk before [DONE] when
 * streaming. A stream that fails verification ends with an OpenAI error
 * event and no [DONE], so SDKs raise instead of accepting a partial answer.
 *
 * Ownership: the proxy borrows base and client (both must outlive it).
 * Thread safety: loop thread only.
 */
#ifndef GLOAM_CLIENT_PROXY_H
#define GLOAM_CLIENT_PROXY_H

#include "gloam/client.h"

struct event_base;
typedef struct client_proxy client_proxy;

#define CLIENT_PROXY_MAX_INFLIGHT 64

int client_proxy_new(client_proxy **out, struct event_base *base, const gloam_client *c,
                     const char *listen, int *out_port, char *err);
void client_proxy_free(client_proxy *p);

#endif
