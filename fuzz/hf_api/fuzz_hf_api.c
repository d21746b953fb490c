/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/hf_api/fuzz_hf_api.c: the Hugging Face model-info parser
 * (src/node/hf_api.c) on arbitrary bytes, and the name checks on the same
 * bytes as a string. Invariants: every accepted file name passes
 * hf_path_ok (so it cannot leave the snapshot directory) and the commit is
 * 40 lower-case hex digits; a split reference has valid parts; escaping
 * never overflows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/hf_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  char err[256];
  hf_repo_info info;
  if (hf_repo_info_parse((const char *)data, size, &info, err) == 0) {
    if (strlen(info.commit) != 40) abort();
    for (int i = 0; i < 40; i++)
      if (!((info.commit[i] >= '0' && info.commit[i] <= '9') ||
            (info.commit[i] >= 'a' && info.commit[i] <= 'f')))
        abort();
    for (size_t i = 0; i < info.n_files; i++) {
      const hf_file *f = &info.files[i];
      if (!hf_path_ok(f->path)) abort();
      if (hf_repo_info_find(&info, f->path) == NULL) abort();
    }
    hf_repo_info_deinit(&info);
  }
  char s[512], repo[HF_REPO_MAX + 1], rev[HF_REV_MAX + 1], esc[3 * 512 + 1] = "";
  size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
  memcpy(s, data, n);
  s[n] = 0;
  if (hf_split_ref(s, repo, sizeof repo, rev, sizeof rev, err) == 0) {
    if (!hf_repo_ok(repo) || !hf_revision_ok(rev) || strstr(rev, "..")) abort();
  }
  if (hf_path_ok(s) && (s[0] == '/' || strstr(s, "/../") || !strncmp(s, "../", 3))) abort();
  if (hf_url_escape(s, 1, esc, sizeof esc) != 0) abort();
  return 0;
}
