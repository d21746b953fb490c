/* SPDX-License-Identifier: Apache-2.0
 *
 * node/gpu.h: which GPUs this machine has, for the registration's hardware
 * summary. NVIDIA only for now: the driver's /proc/driver/nvidia/gpus/
 * (names, bus ids) and, when present, `nvidia-smi` (memory, driver
 * version). None found is reported as none; nothing is guessed. The engine
 * itself runs on the CPU today (docs/node.md), so this is information for
 * routing and for the owner, not a claim that the GPU is used.
 *
 * Thread safety: blocking; call at start-up (it may run nvidia-smi, which
 * the seccomp filter would forbid later).
 */
#ifndef GLOAM_NODE_GPU_H
#define GLOAM_NODE_GPU_H

#include <jansson.h>

#define NODE_GPU_MAX 16

typedef struct node_gpu {
  char vendor[16]; /* "nvidia" */
  char name[128];
  char bus[32];    /* PCI bus id, "" when unknown */
  long memory_mib; /* -1 when unknown */
  char driver[32]; /* "" when unknown */
} node_gpu;

/* Fills up to NODE_GPU_MAX entries; returns how many. */
int node_gpu_detect(node_gpu *out, int max);
/* Parses the driver's "information" file text into g (name, bus). 0 or -1. */
int node_gpu_parse_proc(const char *text, node_gpu *g);
/* Parses one line of `nvidia-smi --query-gpu=name,memory.total,driver_version,pci.bus_id
 * --format=csv,noheader,nounits`. 0 or -1. */
int node_gpu_parse_smi(const char *line, node_gpu *g);
/* null when n == 0, else an array of {"vendor","name","bus","memory_mib","driver"}. */
json_t *node_gpu_json(const node_gpu *g, int n);

#endif
