/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/jinja/fuzz_jinja.c: arbitrary template source, compiled and
 * rendered against a fixed chat context (messages with a tool call and a
 * tool result, tools, add_generation_prompt, enable_thinking, bos/eos)
 * under small limits. Any error is fine; crashes, leaks, sanitizer reports
 * and hangs are not.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gloam/chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char MESSAGES[] =
    "[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":\"Weather in Paris? \\u00e9\\ud83d\\ude00\"},"
    "{\"role\":\"assistant\",\"content\":\"<think>\\nhm\\n</think>\\n\\nOk\",\"tool_calls\":"
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":"
    "\"Paris\",\"n\":[1,2.5,true,null]}}}]},"
    "{\"role\":\"tool\",\"content\":\"{\\\"temp_c\\\": 18}\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"thanks\"},{\"type\":\"image\"}]}"
    "]";
static const char TOOLS[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Get the "
    "weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
    "\"required\":[\"city\"]}}}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gloam_chat_limits lim;
  gloam_chat_limits_default(&lim);
  lim.max_steps = 200000;
  lim.max_output = 1 << 20;
  lim.max_memory = 32u << 20;
  lim.now = 1700000000;
  char err[GLOAM_ERR_LEN];
  gloam_chat_template *t;
  if (gloam_chat_template_new(&t, (const char *)data, size, &lim, err) < 0) return 0;
  gloam_chat_request req = {.messages_json = MESSAGES,
                            .tools_json = (size & 1) ? TOOLS : NULL,
                            .add_generation_prompt = 1,
                            .extra_vars_json = "{\"enable_thinking\": false}",
                            .bos_token = "<s>",
                            .eos_token = "</s>"};
  char *out = NULL;
  size_t n;
  if (gloam_chat_template_render(t, &req, &out, &n, err) == 0 && strlen(out) > n)
    __builtin_trap(); /* the length must cover the string */
  gloam_chat_free(out);
  gloam_chat_template_free(t);
  return 0;
}
