/* SPDX-License-Identifier: Apache-2.0
 *
 * src/bin/engine_speech_cmd.c: gloam-engine's speech subcommand
 * (registered in engine_main.c's table):
 *
 *   gloam-engine transcribe --model DIR --audio FILE [--language en]
 *       [--task transcribe|translate] [--timestamps] [--temperature T]
 *       [--fallback] [--prompt TEXT] [--max-tokens N] [--threads N]
 *
 * Prints each segment as it is finished: its text, prefixed by
 * "[start --> end] " with --timestamps. When DIR has no tokenizer.json
 * (e.g. the random-weight test fixture) there is no text: it prints
 * "ids: " and every sampled token id, space-separated, and says so on
 * stderr. The detected or given language goes to stderr.
 * Exit: 0 ok, 1 failure, 2 usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_cli.h"
#include "gloam/speech.h"

#define MAX_AUDIO_FILE ((size_t)25 << 20)

int cmd_transcribe(int argc, char **argv);

static void print_time(double s) {
  long ms = (long)(s * 1000.0 + 0.5);
  printf("%02ld:%02ld.%03ld", ms / 60000, ms / 1000 % 60, ms % 1000);
}

static int on_segment(void *ctx, const gloam_speech_segment *seg) {
  const gloam_speech_opts *o = ctx;
  if (o->timestamps) {
    printf("[");
    print_time(seg->start);
    printf(" --> ");
    print_time(seg->end);
    printf("] ");
  }
  printf("%s\n", seg->text);
  fflush(stdout);
  return 0;
}

static int parse_num(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
  *out = v;
  return 0;
}

int cmd_transcribe(int argc, char **argv) {
  const char *dir = cli_opt(argc, argv, "--model"), *audio = cli_opt(argc, argv, "--audio");
  const char *task = cli_opt(argc, argv, "--task"), *s;
  if (!dir || !audio) {
    fprintf(stderr, "gloam-engine transcribe: --model DIR and --audio FILE are required\n");
    return 2;
  }
  gloam_speech_opts o;
  gloam_speech_opts_init(&o);
  o.language = cli_opt(argc, argv, "--language");
  o.prompt = cli_opt(argc, argv, "--prompt");
  o.timestamps = cli_flag(argc, argv, "--timestamps");
  o.fallback = cli_flag(argc, argv, "--fallback");
  double v, threads = 1;
  if (task && strcmp(task, "translate") == 0)
    o.task = GLOAM_SPEECH_TRANSLATE;
  else if (task && strcmp(task, "transcribe") != 0) {
    fprintf(stderr, "gloam-engine transcribe: --task transcribe|translate\n");
    return 2;
  }
  if ((s = cli_opt(argc, argv, "--temperature")) && parse_num(s, 0, 1, &v) == 0)
    o.temperature = (float)v;
  else if (s)
    return fprintf(stderr, "gloam-engine transcribe: --temperature in [0, 1]\n"), 2;
  if ((s = cli_opt(argc, argv, "--max-tokens")) && parse_num(s, 1, 448, &v) == 0)
    o.max_tokens = (int)v;
  else if (s)
    return fprintf(stderr, "gloam-engine transcribe: --max-tokens 1..448\n"), 2;
  if ((s = cli_opt(argc, argv, "--threads")) && parse_num(s, 1, 256, &threads) != 0)
    return fprintf(stderr, "gloam-engine transcribe: --threads 1..256\n"), 2;

  char err[GLOAM_ERR_LEN] = "";
  size_t len;
  void *data = cli_read_file(audio, MAX_AUDIO_FILE, &len);
  if (!data) return 1;
  gloam_speech_model *m = NULL;
  gloam_speech_result r;
  int rc = gloam_speech_load(&m, dir, (int)threads, err);
  if (rc == 0) {
    bool text = gloam_speech_has_tokenizer(m);
    if (text) {
      o.on_segment = on_segment;
      o.ctx = &o;
    } else {
      fprintf(stderr, "gloam-engine: %s has no tokenizer.json: printing token ids\n", dir);
    }
    rc = gloam_speech_transcribe_audio(m, data, len, NULL, &o, &r, err);
    if (rc == 0) {
      if (!text) {
        printf("ids:");
        for (size_t i = 0; i < r.n_ids; i++) printf(" %d", r.ids[i]);
        printf("\n");
      }
      fprintf(stderr, "language: %s, duration: %.2f s\n", r.language, r.duration);
      gloam_speech_result_free(&r);
    }
  }
  if (rc < 0) fprintf(stderr, "gloam-engine transcribe: %s: %s\n", gloam_strerror(rc), err);
  gloam_speech_free(m);
  free(data);
  return rc < 0 ? 1 : 0;
}
