/* SPDX-License-Identifier: Apache-2.0
 *
 * client/proxy_audio.c: audio uploads in `gloam proxy` (proxy_audio.h).
 */
#include "client/proxy_audio.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <string.h>

#include "client/client_impl.h"
#include "core/buf.h"
#include "core/err.h"
#include "engine/audio.h"
#include "http/audio_fmt.h"
#include "http/error.h"
#include "http/sse.h"

int proxy_audio_admit(struct evhttp_request *req, bool translate, const uint8_t **body, size_t *len,
                      audio_req *r, uint32_t *audio_ms) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  *len = evbuffer_get_length(in);
  *body = *len ? evbuffer_pullup(in, (ev_ssize_t)*len) : (const uint8_t *)"";
  const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
  audio_req_error e;
  mp_limits lim;
  mp_limits_init(&lim);
  lim.max_body = CLIENT_MAX_UPLOAD;
  if (audio_req_parse(*body, *len, ct, translate, &lim, r, &e) < 0) {
    http_send_error(req, e.status, NULL, e.code, e.param[0] ? e.param : NULL, "%s", e.message);
    return GLOAM_EINVAL;
  }
  char err[GLOAM_ERR_LEN];
  audio_limits al = {r->file_len, 0};
  int rc = audio_measure_ms(r->file, r->file_len, &al, audio_ms, err);
  if (rc < 0) {
    http_send_error(req, rc == GLOAM_ENOMEM ? 500 : 400, NULL,
                    rc == GLOAM_EUNSUPPORTED ? "unsupported_file" : "invalid_file", "file", "%s",
                    err);
    audio_req_free(r);
  }
  return rc;
}

void proxy_audio_send(struct evhttp_request *req, enum audio_format f, const uint8_t *text,
                      size_t len, const json_t *gloam) {
  buf out;
  buf_init(&out, len + 8192);
  if (audio_fmt_with_gloam(text ? (const char *)text : "", len, f, gloam, &out) == 0)
    http_send_text(req, 200, audio_format_content_type(f), out.len ? (const char *)out.data : "",
                   out.len);
  else
    http_send_error(req, 500, NULL, "internal", NULL, "Out of memory.");
  buf_deinit(&out);
}

void proxy_audio_stream_tail(http_sse *sse, const json_t *gloam) {
  buf ev;
  buf_init(&ev, 8192);
  if (audio_fmt_gloam_event(gloam, &ev) == 0)
    http_sse_send(sse, NULL, (const char *)ev.data, ev.len);
  buf_deinit(&ev);
}
