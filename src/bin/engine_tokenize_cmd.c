/* SPDX-License-Identifier: Apache-2.0
 *
 * src/bin/engine_tokenize_cmd.c: gloam-engine's tokenizer subcommands
 * (registered in engine_main.c's table; the interface is a contract):
 *
 *   gloam-engine tokenize   --tokenizer DIR (--text STR | --text-file F) [--add-special]
 *       prints the ids as a JSON array ("[9707,11,1879,0]") and a newline;
 *   gloam-engine detokenize --tokenizer DIR --ids 1,2,3 [--skip-special]
 *       prints the decoded text exactly (no newline added).
 *
 * DIR holds tokenizer.json or tokenizer.json.gz and tokenizer_config.json.
 * Exit: 0 ok, 1 failure, 2 usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_cli.h"
#include "gloam/tokenizer.h"

#define MAX_TEXT_FILE ((size_t)256 << 20)
#define MAX_IDS (1 << 24)

int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);

static gloam_tokenizer *load(int argc, char **argv) {
  const char *dir = cli_opt(argc, argv, "--tokenizer");
  if (!dir) {
    fprintf(stderr, "gloam-engine: --tokenizer DIR is required\n");
    return NULL;
  }
  gloam_tokenizer *tok;
  char err[GLOAM_ERR_LEN];
  if (gloam_tokenizer_load(&tok, dir, err) < 0) {
    fprintf(stderr, "gloam-engine: %s\n", err);
    return NULL;
  }
  return tok;
}

int cmd_tokenize(int argc, char **argv) {
  const char *text = cli_opt(argc, argv, "--text");
  const char *file = cli_opt(argc, argv, "--text-file");
  if (!text == !file) {
    fprintf(stderr, "gloam-engine: give exactly one of --text STR, --text-file F\n");
    return 2;
  }
  gloam_tokenizer *tok = load(argc, argv);
  if (!tok) return 1;
  int ret = 1;
  char *owned = NULL;
  size_t len = text ? strlen(text) : 0;
  if (file && !(owned = cli_read_file(file, MAX_TEXT_FILE, &len))) goto done;
  int32_t *ids;
  size_t n;
  unsigned flags = cli_flag(argc, argv, "--add-special") ? GLOAM_TOK_ADD_SPECIAL : 0;
  int rc = gloam_tokenizer_encode(tok, owned ? owned : text, len, flags, &ids, &n);
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: encode: %s\n", gloam_strerror(rc));
    goto done;
  }
  putchar('[');
  for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)ids[i]);
  printf("]\n");
  gloam_tokenizer_buf_free(ids);
  ret = 0;
done:
  free(owned);
  gloam_tokenizer_free(tok);
  return ret;
}

/* "1,2,3" into ids (malloc'd); the count, or -1. */
static long parse_ids(const char *s, int32_t **out) {
  size_t n = 1;
  for (const char *p = s; *p; p++) n += *p == ',';
  if (n > MAX_IDS) return -1;
  int32_t *ids = malloc(n * sizeof *ids);
  if (!ids) return -1;
  size_t k = 0;
  const char *p = s;
  for (;;) {
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || end == p || v < 0 || v > INT32_MAX || (*end != ',' && *end != '\0')) {
      free(ids);
      return -1;
    }
    ids[k++] = (int32_t)v;
    if (*end == '\0') break;
    p = end + 1;
  }
  *out = ids;
  return (long)k;
}

int cmd_detokenize(int argc, char **argv) {
  const char *list = cli_opt(argc, argv, "--ids");
  if (!list) {
    fprintf(stderr, "gloam-engine: --ids 1,2,3 is required\n");
    return 2;
  }
  int32_t *ids = NULL;
  long n = *list ? parse_ids(list, &ids) : 0;
  if (n < 0) {
    fprintf(stderr, "gloam-engine: bad --ids '%s'\n", list);
    return 2;
  }
  gloam_tokenizer *tok = load(argc, argv);
  if (!tok) {
    free(ids);
    return 1;
  }
  char *text;
  size_t len;
  unsigned flags = cli_flag(argc, argv, "--skip-special") ? GLOAM_TOK_SKIP_SPECIAL : 0;
  int rc = gloam_tokenizer_decode(tok, ids, (size_t)n, flags, &text, &len);
  if (rc == 0) {
    fwrite(text, 1, len, stdout);
    gloam_tokenizer_buf_free(text);
  } else {
    fprintf(stderr, "gloam-engine: decode: %s\n", gloam_strerror(rc));
  }
  free(ids);
  gloam_tokenizer_free(tok);
  return rc == 0 ? 0 : 1;
}
