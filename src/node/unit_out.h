/* SPDX-License-Identifier: Apache-2.0
 *
 * node/unit_out.h: what the non-chat jobs that run to their end on the
 * engine thread share (speech_job.c, image_job.c; docs/protocol.md
 * "Non-chat jobs"): starting the sealed stream, sealing a plaintext buffer
 * as 0x02 frames in chunks, and the signed receipt with its job_done.
 *
 * Thread safety: engine thread only.
 */
#ifndef GLOAM_NODE_UNIT_OUT_H
#define GLOAM_NODE_UNIT_OUT_H

#include <jansson.h>
#include <stdbool.h>

#include "core/buf.h"
#include "node/engine_int.h"

/* Opens job j's envelope into slot s (s->hdr, s->resp; *body owned,
 * gloam_seal_free) and checks it names this node's model; *code (static)
 * and msg on failure. */
int unit_open(node_engine *e, node_slot *s, node_job *j, uint8_t **body, size_t *body_len,
              const char **code, char *msg);
/* Sends the sealed frame in s->frame + 17 (frame_len bytes) as a 0x02
 * binary message of job j. */
int unit_send_frame(node_engine *e, node_slot *s, node_job *j, size_t frame_len);
/* Starts the sealed response stream of slot s (s->resp) and sends its
 * header frame. */
int unit_start(node_engine *e, node_slot *s, node_job *j);
/* Seals out in chunks of GLOAM_SEAL_MAX_CHUNK, the last one FINAL when
 * final, sends them and empties out. */
int unit_seal_all(node_engine *e, node_slot *s, node_job *j, buf *out, int final);
/* The claims every receipt of slot s's job carries: node, request id and
 * hash, transcript hash (so: after the FINAL frame), model, weights, times.
 * The caller adds its units and price. */
int unit_claims_init(node_engine *e, node_slot *s, gloam_receipt_claims *c);
/* Signs c and emits job_done with the receipt and usage (stolen). */
int unit_done(node_engine *e, node_job *j, const gloam_receipt_claims *c, json_t *usage);

/* Whether the job must stop now (engine stopping, cancelled, past its
 * deadline); *why (static) names the reason for job_error. */
bool unit_should_stop(node_engine *e, node_job *j, const char **why);
/* The end of a job: a job_error (code/msg, or why when it was stopped and
 * not cancelled by the coordinator) when rc < 0, then the slot's responder
 * freed and the job released. */
void unit_end(node_engine *e, node_slot *s, node_job *j, int rc, const char *code, const char *msg,
              const char *why);

#endif
