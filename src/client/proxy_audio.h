/* SPDX-License-Identifier: Apache-2.0
 *
 * client/proxy_audio.h: the audio half of `gloam proxy`: POST
 * /v1/audio/transcriptions and /v1/audio/translations in client-sealed
 * mode (docs/speech.md). proxy.c routes them through its sealed operation
 * (chat_op with the audio endpoint); what is specific to audio is here:
 * validating the upload and measuring its duration before sealing, and the
 * answer's form.
 *
 * The whole multipart body is sealed for the node unchanged; the
 * coordinator sees only the envelope header, whose audio_ms is the
 * duration measured here with the node's own decoder (engine/audio.h), so
 * the reservation matches what the node will bill.
 *
 * Thread safety: loop thread only (evhttp).
 */
#ifndef GLOAM_CLIENT_PROXY_AUDIO_H
#define GLOAM_CLIENT_PROXY_AUDIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/audio_req.h"

struct evhttp_request;
typedef struct http_sse http_sse;

/* Validates the app's upload (http/audio_req.h) and measures its audio.
 * OUT: *body and *len (the request's bytes, valid while req lives), *r
 * (audio_req_free), *audio_ms. On failure the app has been answered with
 * an OpenAI error and < 0 is returned. */
int proxy_audio_admit(struct evhttp_request *req, bool translate, const uint8_t **body, size_t *len,
                      audio_req *r, uint32_t *audio_ms);
/* The whole answer in format f: the node's bytes, with `gloam` (borrowed)
 * spliced into the JSON formats. */
void proxy_audio_send(struct evhttp_request *req, enum audio_format f, const uint8_t *text,
                      size_t len, const json_t *gloam);
/* A streamed answer's gloam.usage event (before [DONE]). */
void proxy_audio_stream_tail(http_sse *sse, const json_t *gloam);

#endif
