/* SPDX-License-Identifier: Apache-2.0
 *
 * gloam/chat.h: a model's own chat template, rendered as Hugging Face does,
 * and the model's output turned back into OpenAI messages: reasoning
 * (`<think>...</think>` -> reasoning_content), content, and tool calls.
 *
 * Rendering:
 *
 *   char err[GLOAM_ERR_LEN], *prompt;
 *   size_t n;
 *   gloam_chat_config *cfg;
 *   if (gloam_chat_config_load(&cfg, "/models/qwen3", err) < 0) ...
 *   gloam_chat_request req = {
 *     .messages_json = "[{\"role\":\"user\",\"content\":\"Hi\"}]",
 *     .add_generation_prompt = 1,
 *     .extra_vars_json = "{\"enable_thinking\": false}",
 *     .bos_token = gloam_chat_config_token(cfg, "bos_token"),
 *     .eos_token = gloam_chat_config_token(cfg, "eos_token"),
 *   };
 *   int rc = gloam_chat_render(gloam_chat_config_template(cfg, 0), &req, NULL, &prompt, &n, err);
 *   ... gloam_chat_free(prompt); gloam_chat_config_free(cfg);
 *
 * Parsing what the model generates, incrementally while streaming:
 *
 *   gloam_toolparse_opts o = {.format = gloam_toolcall_format_detect(tmpl),
 *                             .start_in_reasoning = gloam_chat_prompt_in_reasoning(prompt, n)};
 *   gloam_toolparse *tp;
 *   gloam_toolparse_new(&tp, &o);
 *   for each decoded text delta: gloam_toolparse_feed(tp, delta, len, on_event, ctx);
 *   gloam_toolparse_finish(tp, on_event, ctx);
 *   gloam_toolparse_message_json(tp, &json);   // the whole assistant message
 *
 * on_event receives content text, reasoning text, the start of a tool call
 * (index, id, name) and fragments of its arguments; gloam_toolparse_delta_json()
 * turns each event into an OpenAI chat.completion.chunk `delta` object. Text
 * that could still be the start of a tag is held back until decided, so a
 * client never sees half a tag. docs/chat-templates.md lists the supported
 * template subset and the tool-call formats.
 *
 * Return codes (all functions returning int): 0 on success, or
 *   GLOAM_EINVAL   bad argument, bad JSON, template runtime error (undefined
 *                  value, type error, raise_exception() - err has its text)
 *   GLOAM_EFORMAT  template syntax error, invalid UTF-8
 *   GLOAM_ETOOBIG  a limit (template size, output, steps, depth, memory)
 *   GLOAM_ENOENT / GLOAM_EIO  tokenizer_config.json missing or unreadable
 *   GLOAM_ENOMEM   out of memory
 * `err` parameters are caller buffers of GLOAM_ERR_LEN bytes (may be NULL);
 * they receive detail text, including the template line.
 *
 * Ownership: strings returned through `char **out` are the caller's, freed
 * with gloam_chat_free(). Handles are freed by their _free(), which accepts
 * NULL. Input strings are borrowed for the duration of the call.
 * Thread safety: gloam_chat_template and gloam_chat_config are immutable
 * after creation and may be used from many threads at once; a
 * gloam_toolparse belongs to one stream and one thread at a time.
 */
#ifndef GLOAM_CHAT_H
#define GLOAM_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "gloam/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits ---- */

typedef struct gloam_chat_limits {
  size_t max_template; /* bytes of template source (default 1 MiB) */
  size_t max_output;   /* bytes of rendered prompt (default 16 MiB) */
  uint64_t max_steps;  /* evaluation steps (default 10,000,000) */
  unsigned max_depth;  /* syntax nesting (default 64; runtime recursion 8x) */
  size_t max_memory;   /* bytes one render may allocate (default 256 MiB) */
  int64_t now;         /* time for strftime_now() (Unix seconds, UTC); 0: the clock */
} gloam_chat_limits;

GLOAM_API void gloam_chat_limits_default(gloam_chat_limits *lim);

/* ---- rendering ---- */

typedef struct gloam_chat_request {
  const char *messages_json;   /* JSON array of messages (required) */
  const char *tools_json;      /* JSON array of tools, or NULL (tools = None) */
  int add_generation_prompt;   /* non-zero: end with the assistant header */
  const char *extra_vars_json; /* JSON object of extra variables, or NULL */
  const char *bos_token;       /* NULL: the variable is not defined */
  const char *eos_token;       /* NULL: the variable is not defined */
} gloam_chat_request;

typedef struct gloam_chat_template gloam_chat_template;

/* Compiles a template (src: len bytes). lim NULL: defaults. OUT: *out. */
GLOAM_API int gloam_chat_template_new(gloam_chat_template **out, const char *src, size_t len,
                                      const gloam_chat_limits *lim, char *err);
GLOAM_API void gloam_chat_template_free(gloam_chat_template *t);

/* Renders req with the variables Hugging Face's apply_chat_template passes:
 * messages, tools, documents (None), add_generation_prompt, bos_token,
 * eos_token, then the extra variables (which override). OUT: *out
 * (NUL-terminated; *out_len bytes, out_len may be NULL). */
GLOAM_API int gloam_chat_template_render(const gloam_chat_template *t,
                                         const gloam_chat_request *req, char **out, size_t *out_len,
                                         char *err);

/* Compile + render in one call. */
GLOAM_API int gloam_chat_render(const char *template_src, const gloam_chat_request *req,
                                const gloam_chat_limits *lim, char **out, size_t *out_len,
                                char *err);

GLOAM_API void gloam_chat_free(void *p);

/* ---- tokenizer_config.json ---- */

typedef struct gloam_chat_config gloam_chat_config;

/* Reads dir/tokenizer_config.json (at most 16 MiB). OUT: *out. */
GLOAM_API int gloam_chat_config_load(gloam_chat_config **out, const char *dir, char *err);
/* Parses tokenizer_config.json text. OUT: *out. */
GLOAM_API int gloam_chat_config_parse(gloam_chat_config **out, const char *json, size_t len,
                                      char *err);
/* The chat template: `chat_template` when it is a string; when it is a list
 * of {name, template}, the one named "tool_use" if has_tools and present,
 * else "default". NULL if the config has none. Valid until _free. */
GLOAM_API const char *gloam_chat_config_template(const gloam_chat_config *c, int has_tools);
/* A special token's text ("bos_token", "eos_token", "pad_token",
 * "unk_token"), whether stored as a string or an AddedToken object; NULL
 * when unset. Valid until _free. */
GLOAM_API const char *gloam_chat_config_token(const gloam_chat_config *c, const char *which);
GLOAM_API void gloam_chat_config_free(gloam_chat_config *c);

/* ---- model output: reasoning and tool calls ---- */

enum gloam_toolcall_format {
  GLOAM_TOOLCALL_GENERIC = 0, /* all of the below (see docs/chat-templates.md) */
  GLOAM_TOOLCALL_HERMES = 1,  /* Qwen/Hermes: <tool_call>{"name":..,"arguments":{..}}</tool_call> */
  GLOAM_TOOLCALL_LLAMA3 = 2,  /* Llama 3: [<|python_tag|>]{"name":..,"parameters":{..}} */
  GLOAM_TOOLCALL_NONE = 3,    /* no tool calls (request without tools): reasoning only */
};

/* The format a template's own instructions ask for (HERMES when it
 * mentions <tool_call>, LLAMA3 for <|python_tag|> or Llama 3 headers),
 * else GENERIC. template_src may be NULL. */
GLOAM_API int gloam_toolcall_format_detect(const char *template_src);

/* 1 when the rendered prompt leaves the model inside an open <think> block
 * (the template emitted `<think>` with no `</think>` after it), else 0. */
GLOAM_API int gloam_chat_prompt_in_reasoning(const char *prompt, size_t len);

typedef struct gloam_toolparse_opts {
  int format;             /* enum gloam_toolcall_format */
  int start_in_reasoning; /* output begins inside <think> */
  uint64_t id_seed;       /* tool call ids: 0 draws from the OS, else deterministic */
  size_t max_bytes;       /* cap on buffered output (0: 16 MiB) */
} gloam_toolparse_opts;

enum gloam_tp_event_type {
  GLOAM_TP_CONTENT = 1,    /* text: content */
  GLOAM_TP_REASONING = 2,  /* text: reasoning_content */
  GLOAM_TP_CALL_START = 3, /* index, id, name: a new tool call */
  GLOAM_TP_CALL_ARGS = 4,  /* index, text: a fragment of its arguments JSON */
};

typedef struct gloam_tp_event {
  int type;
  int index;        /* tool call index (CALL_*) */
  const char *text; /* borrowed, valid during the callback; len bytes */
  size_t len;
  const char *id;   /* CALL_START: "call_..." */
  const char *name; /* CALL_START: function name */
} gloam_tp_event;

/* Return < 0 to stop; feed()/finish() then return that code. */
typedef int (*gloam_tp_cb)(void *ctx, const gloam_tp_event *ev);

typedef struct gloam_toolparse gloam_toolparse;

GLOAM_API int gloam_toolparse_new(gloam_toolparse **out, const gloam_toolparse_opts *opts);
/* Feeds the next len bytes of model output; events go to cb (may be NULL).
 * Splits anywhere (even inside a UTF-8 character) give the same result. */
GLOAM_API int gloam_toolparse_feed(gloam_toolparse *p, const char *text, size_t len, gloam_tp_cb cb,
                                   void *ctx);
/* End of output: flushes held-back text and closes open structures. */
GLOAM_API int gloam_toolparse_finish(gloam_toolparse *p, gloam_tp_cb cb, void *ctx);
/* The final assistant message: {"role":"assistant","content":...,
 * ["reasoning_content":...,] ["tool_calls":[{id,type,function:{name,
 * arguments}}]]}; content is null when empty and there are tool calls.
 * OUT: *out (free with gloam_chat_free). */
GLOAM_API int gloam_toolparse_message_json(const gloam_toolparse *p, char **out);
/* One event as an OpenAI streaming `delta` object. OUT: *out. */
GLOAM_API int gloam_toolparse_delta_json(const gloam_tp_event *ev, char **out);
/* Detail text of the last error. */
GLOAM_API const char *gloam_toolparse_errmsg(const gloam_toolparse *p);
GLOAM_API void gloam_toolparse_free(gloam_toolparse *p);

#ifdef __cplusplus
}
#endif
#endif /* GLOAM_CHAT_H */
