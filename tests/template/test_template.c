/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/template/test_template.c: chat templates and model-output parsing.
 *
 *  - every chat[] case of tests/fixtures/tokenizers/{qwen3,llama3,gemma3}/
 *    expected.json (what Hugging Face's apply_chat_template produced) must
 *    render byte for byte from the model's own tokenizer_config.json;
 *  - Jinja semantics against outputs documented by Jinja and Python
 *    (whitespace control, trim/lstrip_blocks, loops, scoping, filters,
 *    tests, slicing, str() of values, json.dumps formatting);
 *  - limits (steps, output, recursion, memory, template size) fail cleanly
 *    with messages naming the limit and the line;
 *  - the incremental tool-call / reasoning parser gives the same result
 *    for one-character, token-like and random chunkings, never emits part
 *    of a tag as content, and streams OpenAI-shaped deltas.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "gloam/chat.h"
#include "test.h"
#include "test_template.h"

/* ---- helpers ---- */

char *render_vars(const char *tmpl, const char *vars_json, int *rc_out, char *err) {
  gloam_chat_request req = {.messages_json = "[]", .extra_vars_json = vars_json};
  char *out = NULL;
  gloam_chat_limits lim;
  gloam_chat_limits_default(&lim);
  lim.now = 1700000000; /* 2023-11-14 22:13:20 UTC */
  int rc = gloam_chat_render(tmpl, &req, &lim, &out, NULL, err);
  if (rc_out) *rc_out = rc;
  return out;
}

/* ---- fixtures: byte-exact against Hugging Face ---- */

static void run_fixture(const char *model, int *n_cases) {
  char rel[128];
  snprintf(rel, sizeof rel, "tokenizers/%s", model);
  char *dir = test_fixture_path(rel);
  snprintf(rel, sizeof rel, "tokenizers/%s/expected.json", model);
  char *exp_path = test_fixture_path(rel);
  json_error_t je;
  json_t *exp = json_load_file(exp_path, 0, &je);
  if (!exp) TEST_SKIP("fixture expected.json missing");
  char err[GLOAM_ERR_LEN];
  gloam_chat_config *cfg;
  ASSERT_OK(gloam_chat_config_load(&cfg, dir, err));
  json_t *cases = json_object_get(exp, "chat");
  ASSERT_TRUE(json_array_size(cases) > 0);
  size_t i;
  json_t *cs;
  json_array_foreach(cases, i, cs) {
    json_t *tools = json_object_get(cs, "tools");
    bool has_tools = tools && !json_is_null(tools);
    char *msgs = json_dumps(json_object_get(cs, "messages"), JSON_COMPACT);
    char *tj = has_tools ? json_dumps(tools, JSON_COMPACT) : NULL;
    json_t *extra = json_object_get(cs, "extra");
    char *ej = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
    gloam_chat_request req = {
        .messages_json = msgs,
        .tools_json = tj,
        .add_generation_prompt = json_is_true(json_object_get(cs, "add_generation_prompt")),
        .extra_vars_json = ej,
        .bos_token = gloam_chat_config_token(cfg, "bos_token"),
        .eos_token = gloam_chat_config_token(cfg, "eos_token"),
    };
    char *out = NULL;
    size_t n = 0;
    int rc =
        gloam_chat_render(gloam_chat_config_template(cfg, has_tools), &req, NULL, &out, &n, err);
    if (rc < 0) test_fail(__FILE__, __LINE__, "%s case %zu: %s", model, i, err);
    const char *want = json_string_value(json_object_get(cs, "rendered"));
    if (n != strlen(want) || memcmp(out, want, n) != 0)
      test_fail(__FILE__, __LINE__, "%s case %zu:\n--- got\n%s\n--- want\n%s", model, i, out, want);
    gloam_chat_free(out);
    free(msgs);
    free(tj);
    free(ej);
    (*n_cases)++;
  }
  gloam_chat_config_free(cfg);
  json_decref(exp);
  free(dir);
  free(exp_path);
}

static void test_fixtures_qwen3(void) {
  int n = 0;
  run_fixture("qwen3", &n);
  ASSERT_EQ_INT(n, 13);
}
static void test_fixtures_llama3(void) {
  int n = 0;
  run_fixture("llama3", &n);
  ASSERT_CMP_INT(n, >=, 8);
}
static void test_fixtures_gemma3(void) {
  int n = 0;
  run_fixture("gemma3", &n);
  ASSERT_CMP_INT(n, >=, 8);
}

int main(int argc, char **argv) {
  static const test_case fixtures[] = {
      TEST(test_fixtures_qwen3),
      TEST(test_fixtures_llama3),
      TEST(test_fixtures_gemma3),
      {0},
  };
  static test_case all[512];
  const test_case *groups[] = {fixtures, template_jinja_tests, template_toolcall_tests};
  size_t n = 0;
  for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
    for (const test_case *t = groups[g]; t->name && n + 1 < sizeof all / sizeof all[0]; t++)
      all[n++] = *t;
  return test_main(argc, argv, all);
}
