/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/template/bench_template.c: throughput of chat rendering and of the
 * tool-call parser (not a test; docs/chat-templates.md quotes its output).
 *
 *   build/<dir>/tests/template/bench_template [tests/fixtures/tokenizers/qwen3]
 *
 * Renders the Qwen3 template over 1,001 messages (each assistant turn with a
 * <think> block) and 20 tools, then parses ~680 KB of Qwen-style output
 * (reasoning, content, 200 tool calls) whole and in 4-byte chunks. Times
 * are process CPU time, so other load on the machine matters less.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "gloam/chat.h"

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static char *build_messages(void) {
  json_t *msgs = json_array();
  char text[512];
  for (int i = 0; i < 500; i++) {
    snprintf(text, sizeof text, "Question %d: what is the weather like in Paris today? ", i);
    json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", text));
    snprintf(text, sizeof text, "<think>\nThinking about %d.\n</think>\n\nIt is sunny. ", i);
    json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "assistant", "content", text));
  }
  json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", "thanks"));
  char *s = json_dumps(msgs, JSON_COMPACT);
  json_decref(msgs);
  return s;
}

static char *build_tools(void) {
  json_t *tools = json_array();
  for (int i = 0; i < 20; i++)
    json_array_append_new(
        tools,
        json_pack("{s:s,s:{s:s,s:s,s:{s:s,s:{s:{s:s}},s:[s]}}}", "type", "function", "function",
                  "name", "get_weather", "description", "Get the weather", "parameters", "type",
                  "object", "properties", "city", "type", "string", "required", "city"));
  char *s = json_dumps(tools, JSON_COMPACT);
  json_decref(tools);
  return s;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "tests/fixtures/tokenizers/qwen3";
  char err[GLOAM_ERR_LEN];
  gloam_chat_config *cfg;
  if (gloam_chat_config_load(&cfg, dir, err) < 0) {
    fprintf(stderr, "bench_template: %s\n", err);
    return 1;
  }
  const char *src = gloam_chat_config_template(cfg, 1);
  gloam_chat_template *t;
  if (!src || gloam_chat_template_new(&t, src, strlen(src), NULL, err) < 0) {
    fprintf(stderr, "bench_template: %s\n", err);
    return 1;
  }
  char *msgs = build_messages(), *tools = build_tools();
  gloam_chat_request r = {.messages_json = msgs, .tools_json = tools, .add_generation_prompt = 1};
  size_t n = 0;
  int iters = 50;
  double t0 = cpu_now();
  for (int i = 0; i < iters; i++) {
    char *o;
    if (gloam_chat_template_render(t, &r, &o, &n, err) < 0) {
      fprintf(stderr, "bench_template: %s\n", err);
      return 1;
    }
    gloam_chat_free(o);
  }
  double dt = (cpu_now() - t0) / iters;
  printf("render: %zu-byte request -> %zu-byte prompt: %.2f ms CPU per render (%.1f MB/s)\n",
         strlen(msgs) + strlen(tools), n, dt * 1e3, (double)n / dt / 1e6);

  buf out;
  buf_init(&out, 4u << 20);
  buf_append_str(&out, "<think>\n");
  for (int i = 0; i < 20000; i++) buf_append_str(&out, "reasoning step ");
  buf_append_str(&out, "\n</think>\n\n");
  for (int i = 0; i < 20000; i++) buf_append_str(&out, "Answer text here. ");
  for (int i = 0; i < 200; i++)
    buf_append_str(&out,
                   "\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
                   "\"Paris\", \"days\": [1,2,3]}}\n</tool_call>");
  const char *text = (const char *)buf_cstr(&out);
  for (int mode = 0; mode < 2; mode++) {
    size_t chunk = mode ? 4 : out.len;
    t0 = cpu_now();
    for (int i = 0; i < 10; i++) {
      gloam_toolparse *p;
      gloam_toolparse_opts o = {.format = GLOAM_TOOLCALL_HERMES, .id_seed = 1};
      gloam_toolparse_new(&p, &o);
      for (size_t k = 0; k < out.len; k += chunk)
        gloam_toolparse_feed(p, text + k, k + chunk > out.len ? out.len - k : chunk, NULL, NULL);
      gloam_toolparse_finish(p, NULL, NULL);
      gloam_toolparse_free(p);
    }
    dt = (cpu_now() - t0) / 10;
    printf("toolparse: %zu bytes in %zu-byte chunks: %.2f ms CPU (%.1f MB/s)\n", out.len, chunk,
           dt * 1e3, (double)out.len / dt / 1e6);
  }
  buf_deinit(&out);
  free(msgs);
  free(tools);
  gloam_chat_template_free(t);
  gloam_chat_config_free(cfg);
  return 0;
}
