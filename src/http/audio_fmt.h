/* SPDX-License-Identifier: Apache-2.0
 *
 * http/audio_fmt.h: OpenAI's response formats for audio transcriptions and
 * translations, written from a Whisper result (gloam/speech.h).
 *
 *   buf b; buf_init(&b, 64u << 20);
 *   audio_fmt_body(&result, "transcribe", AUDIO_FMT_SRT, &b);   // the whole body
 *   audio_fmt_delta(text, len, &b);    // stream: one transcript.text.delta event
 *   audio_fmt_done(&result, &b);       // stream: transcript.text.done
 *
 * Formats (as api.openai.com answers them):
 * - json: {"text":"...","usage":{"type":"duration","seconds":N}} (N the
 *   audio duration rounded up to whole seconds)
 * - text: the text and a newline
 * - srt: numbered cues `1\n00:00:00,000 --> 00:00:02,500\ntext\n\n`
 * - vtt: `WEBVTT\n\n` then cues `00:00:00.000 --> 00:00:02.500\ntext\n\n`
 * - verbose_json: {"task","language" (English name, e.g. "english"),
 *   "duration","text","segments":[{"id","seek","start","end","text",
 *   "tokens","temperature","avg_logprob"}],"usage"}; `seek` is the
 *   segment's start in 10 ms frames. Whisper's compression_ratio and
 *   no_speech_prob are not computed by the engine and are left out.
 * - stream (transcriptions, json/text): SSE events
 *   `data: {"type":"transcript.text.delta","delta":"..."}` per segment and
 *   `data: {"type":"transcript.text.done","text":"...","usage":{...}}`.
 * Cue and segment texts are trimmed of surrounding spaces as OpenAI's are
 * in srt/vtt; the full text keeps the model's spacing, trimmed at the ends.
 *
 * Thread safety: pure functions. Errors: GLOAM_ENOMEM, GLOAM_ETOOBIG (the
 * buffer's cap).
 */
#ifndef GLOAM_HTTP_AUDIO_FMT_H
#define GLOAM_HTTP_AUDIO_FMT_H

#include <jansson.h>
#include <stddef.h>

#include "core/buf.h"
#include "gloam/speech.h"
#include "http/audio_req.h"

/* task: "transcribe" or "translate". Appends to out. */
int audio_fmt_body(const gloam_speech_result *r, const char *task, enum audio_format f, buf *out);
int audio_fmt_delta(const char *text, size_t len, buf *out);
int audio_fmt_done(const gloam_speech_result *r, buf *out);
/* A whole answer as relayed to the app by the coordinator or the proxy:
 * for the JSON formats, the node's bytes with a "gloam" member (the
 * receipt and usage object) spliced in before the closing brace, so the
 * node's own bytes are not re-serialized; other formats, and a JSON body
 * that does not end in '}', are copied as they are. Appends to out. */
int audio_fmt_with_gloam(const char *body, size_t len, enum audio_format f, const json_t *gloam,
                         buf *out);
/* The data of a streamed answer's last event before [DONE]:
 * {"type":"gloam.usage","gloam":{...}}. Appends to out. */
int audio_fmt_gloam_event(const json_t *gloam, buf *out);

/* Whisper's English name of a language code ("en" -> "english"); the code
 * itself when unknown. Static. */
const char *audio_language_name(const char *code);

#endif
