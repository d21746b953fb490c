/* SPDX-License-Identifier: Apache-2.0
 *
 * src/bin/engine_chat_cmd.c: gloam-engine's chat-template subcommands
 * (registered in engine_main.c's table; the interface is a contract):
 *
 *   gloam-engine render-chat --tokenizer DIR --request FILE.json
 *       prints exactly the rendered prompt (no newline added). The request
 *       has "messages", optional "tools", "add_generation_prompt" (bool) and
 *       optional "extra" template variables (e.g. {"enable_thinking":
 *       false}). DIR holds tokenizer_config.json, whose chat_template,
 *       bos_token, eos_token (and pad/unk tokens) are used as Hugging Face
 *       uses them.
 *
 *   gloam-engine parse-output (--text S | --text-file F) [--tokenizer DIR |
 *       --format hermes|llama3|generic|none] [--in-reasoning] [--stream]
 *       parses model output into an OpenAI assistant message (printed as
 *       JSON); --stream feeds it one byte at a time and prints each
 *       streaming delta on its own line first. With --tokenizer the format
 *       is detected from the chat template.
 *
 * Exit: 0 ok, 1 failure, 2 usage.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_cli.h"
#include "gloam/chat.h"

#define MAX_INPUT ((size_t)64 << 20)

int cmd_render_chat(int argc, char **argv);
int cmd_parse_output(int argc, char **argv);

/* The request's extra variables over the config's other special tokens. */
static char *extra_vars(const gloam_chat_config *cfg, json_t *extra) {
  json_t *v = json_object();
  static const char *const toks[] = {"pad_token", "unk_token"};
  for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
    const char *t = gloam_chat_config_token(cfg, toks[i]);
    if (t) json_object_set_new(v, toks[i], json_string(t));
  }
  if (json_is_object(extra)) json_object_update(v, extra);
  char *s = json_dumps(v, JSON_COMPACT);
  json_decref(v);
  return s;
}

int cmd_render_chat(int argc, char **argv) {
  const char *dir = cli_opt(argc, argv, "--tokenizer"),
             *req_path = cli_opt(argc, argv, "--request");
  if (!dir || !req_path) {
    fprintf(stderr, "gloam-engine: render-chat needs --tokenizer DIR --request FILE.json\n");
    return 2;
  }
  char err[GLOAM_ERR_LEN];
  gloam_chat_config *cfg = NULL;
  json_t *req = NULL;
  char *msgs = NULL, *tools = NULL, *extra = NULL, *out = NULL;
  int status = 1;
  if (gloam_chat_config_load(&cfg, dir, err) < 0) {
    fprintf(stderr, "gloam-engine: %s\n", err);
    goto done;
  }
  json_error_t je;
  req = json_load_file(req_path, JSON_ALLOW_NUL, &je);
  if (!json_is_object(req) || !json_is_array(json_object_get(req, "messages"))) {
    fprintf(stderr, "gloam-engine: %s: %s\n", req_path,
            req ? "needs an object with a \"messages\" array" : je.text);
    goto done;
  }
  json_t *tj = json_object_get(req, "tools");
  bool has_tools = json_is_array(tj);
  msgs = json_dumps(json_object_get(req, "messages"), JSON_COMPACT);
  tools = has_tools ? json_dumps(tj, JSON_COMPACT) : NULL;
  extra = extra_vars(cfg, json_object_get(req, "extra"));
  const char *tmpl = gloam_chat_config_template(cfg, has_tools);
  if (!tmpl) {
    fprintf(stderr, "gloam-engine: %s/tokenizer_config.json has no chat_template\n", dir);
    goto done;
  }
  gloam_chat_request r = {
      .messages_json = msgs,
      .tools_json = tools,
      .add_generation_prompt = json_is_true(json_object_get(req, "add_generation_prompt")),
      .extra_vars_json = extra,
      .bos_token = gloam_chat_config_token(cfg, "bos_token"),
      .eos_token = gloam_chat_config_token(cfg, "eos_token"),
  };
  size_t n;
  int rc = gloam_chat_render(tmpl, &r, NULL, &out, &n, err);
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: render-chat: %s (%s)\n", err, gloam_strerror(rc));
    goto done;
  }
  if (fwrite(out, 1, n, stdout) != n || fflush(stdout) != 0) goto done;
  status = 0;
done:
  gloam_chat_free(out);
  free(msgs);
  free(tools);
  free(extra);
  json_decref(req);
  gloam_chat_config_free(cfg);
  return status;
}

static int print_delta(void *ctx, const gloam_tp_event *ev) {
  (void)ctx;
  char *s;
  int rc = gloam_toolparse_delta_json(ev, &s);
  if (rc < 0) return rc;
  printf("%s\n", s);
  gloam_chat_free(s);
  return 0;
}

int cmd_parse_output(int argc, char **argv) {
  const char *text = cli_opt(argc, argv, "--text"), *path = cli_opt(argc, argv, "--text-file");
  const char *fmt = cli_opt(argc, argv, "--format"), *dir = cli_opt(argc, argv, "--tokenizer");
  if (!text == !path) {
    fprintf(stderr, "gloam-engine: parse-output needs --text S or --text-file F\n");
    return 2;
  }
  gloam_toolparse_opts o = {.format = GLOAM_TOOLCALL_GENERIC,
                            .start_in_reasoning = cli_flag(argc, argv, "--in-reasoning")};
  if (fmt) {
    static const char *const names[] = {"generic", "hermes", "llama3", "none"};
    o.format = -1;
    for (int i = 0; i < 4; i++)
      if (strcmp(fmt, names[i]) == 0) o.format = i;
    if (o.format < 0) {
      fprintf(stderr, "gloam-engine: --format must be hermes, llama3, generic or none\n");
      return 2;
    }
  } else if (dir) {
    char err[GLOAM_ERR_LEN];
    gloam_chat_config *cfg;
    if (gloam_chat_config_load(&cfg, dir, err) < 0) {
      fprintf(stderr, "gloam-engine: %s\n", err);
      return 1;
    }
    o.format = gloam_toolcall_format_detect(gloam_chat_config_template(cfg, 1));
    gloam_chat_config_free(cfg);
  }
  size_t n = 0;
  char *data = NULL;
  if (path && !(data = cli_read_file(path, MAX_INPUT, &n))) return 1;
  if (text) n = strlen(text);
  const char *in = data ? data : text;
  gloam_toolparse *p = NULL;
  char *msg = NULL;
  int status = 1, rc = gloam_toolparse_new(&p, &o);
  bool stream = cli_flag(argc, argv, "--stream");
  for (size_t i = 0; rc == 0 && i < n; i += stream ? 1 : n)
    rc = gloam_toolparse_feed(p, in + i, stream ? 1 : n, stream ? print_delta : NULL, NULL);
  if (rc == 0) rc = gloam_toolparse_finish(p, stream ? print_delta : NULL, NULL);
  if (rc == 0) rc = gloam_toolparse_message_json(p, &msg);
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: parse-output: %s\n", p ? gloam_toolparse_errmsg(p) : "");
  } else {
    printf("%s\n", msg);
    status = 0;
  }
  gloam_chat_free(msg);
  gloam_toolparse_free(p);
  free(data);
  return status;
}
