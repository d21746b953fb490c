/* SPDX-License-Identifier: Apache-2.0
 *
 * node/speech_job.h: a node serving a Whisper model (speech-to-text) on
 * its engine thread: `gloam-node serve --model DIR` with a Whisper
 * checkpoint loads it instead of a chat model, and every job is an OpenAI
 * /v1/audio/transcriptions or /v1/audio/translations request.
 *
 * A job runs to completion on the engine thread (a Whisper model serves one
 * transcription at a time; docs/speech.md): open the envelope (endpoint
 * audio/transcriptions or audio/translations), parse the multipart body
 * (http/audio_req.h), decode the audio in-process with the engine's FFmpeg
 * front end, transcribe, and stream the answer as sealed frames: one
 * `transcript.text.delta` event per segment when the request streams,
 * otherwise the body in its response_format (http/audio_fmt.h). It ends
 * with a receipt whose `audio_ms` is the decoded duration and whose price
 * is ceil(audio_ms * audio_per_minute / 60000) micro-USD.
 *
 * Thread safety: engine thread only, except speech_model_detect (pure).
 */
#ifndef GLOAM_NODE_SPEECH_JOB_H
#define GLOAM_NODE_SPEECH_JOB_H

#include <stdbool.h>

#include "node/engine_int.h"

/* true when dir holds a Whisper checkpoint (config.json model_type "whisper"). */
bool speech_model_detect(const char *dir);
/* Loads the Whisper model into e->speech. GLOAM_* with detail in err. */
int speech_engine_load(node_engine *e, char *err);
void speech_engine_free(node_engine *e);
/* Runs job j in slot s to its end: frames, then job_done or job_error, then
 * its release. */
void speech_job_run(node_engine *e, node_slot *s, node_job *j);

#endif
