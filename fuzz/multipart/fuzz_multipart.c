/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/multipart/fuzz_multipart.c: the multipart/form-data parser on
 * arbitrary bytes. The input's first line is the Content-Type header, the
 * rest the body. Checks memory safety, that failures are documented codes,
 * and that a parsed form keeps its limits and points inside the body. The
 * same body then goes through the OpenAI audio request validation
 * (http/audio_req.h) with its boundary read from the body, as the node
 * reads a sealed upload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "http/audio_req.h"
#include "http/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  if (!nl) return 0;
  char *ct = mem_strndup((const char *)data, (size_t)(nl - data));
  if (!ct) return 0;
  char bnd[MP_BOUNDARY_MAX + 1], err[256];
  int rc = multipart_boundary(ct, bnd, err);
  mem_free(ct);
  if (rc < 0) {
    if (rc != -7 && rc != -8 && rc != -1) abort(); /* EFORMAT EUNSUPPORTED ENOMEM */
    return 0;
  }
  if (strlen(bnd) < 1 || strlen(bnd) > MP_BOUNDARY_MAX) abort();
  size_t len = size - (size_t)(nl + 1 - data);
  uint8_t *body = len ? mem_dup(nl + 1, len) : mem_alloc(1); /* exact size for the sanitizers */
  if (!body) return 0;
  mp_limits lim = {4096, 2048, 512, 256, 8};
  mp_form f;
  rc = multipart_parse(body, len, bnd, &lim, &f, err);
  if (rc == 0) {
    if (f.n_parts < 0 || f.n_parts > lim.max_parts) abort();
    for (int i = 0; i < f.n_parts; i++) {
      const mp_part *p = &f.parts[i];
      if (!p->name || !p->name[0]) abort();
      if (p->data < body || p->data + p->len > body + len) abort();
      if (p->len > (p->filename ? lim.max_file : lim.max_field)) abort();
      if (multipart_get(&f, p->name) == NULL) abort();
    }
  } else if (rc != -7 && rc != -4 && rc != -1) { /* EFORMAT ETOOBIG ENOMEM */
    abort();
  } else if (f.n_parts != 0 || f.parts) {
    abort();
  }
  multipart_form_free(&f);
  audio_req r;
  audio_req_error e;
  rc = audio_req_parse(body, len, NULL, len & 1, &lim, &r, &e);
  if (rc == 0) {
    if (!r.file || r.file < body || r.file + r.file_len > body + len || !r.model[0]) abort();
    audio_req_free(&r);
  } else if (e.status != 400 && e.status != 413 && e.status != 415 && e.status != 500) {
    abort();
  }
  mem_free(body);
  return 0;
}
