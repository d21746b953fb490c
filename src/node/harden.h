/* SPDX-License-Identifier: Apache-2.0
 *
 * node/harden.h: process hardening of gloam-node and the posture report.
 *
 *   node_harden_early(err);        // first thing in main: no dumps, no core, no_new_privs
 *   ... load model, make keys, start threads ...
 *   node_harden_seccomp(err);      // the syscall allowlist, before any request
 *   node_posture p; node_posture_read(&p);   // what is actually in force
 *   json_t *j = node_posture_json(&p);       // for registration / evidence
 *
 * Every field of the posture is read back from the kernel after the fact
 * (prctl getters, getrlimit, /proc/self/status, /proc/sys, /sys): nothing is
 * reported because it was merely requested. docs/node.md says what each
 * measure stops and what it does not.
 *
 * Threads: node_harden_early() before any thread starts; node_harden_seccomp()
 * applies the filter to every thread of the process (TSYNC).
 */
#ifndef GLOAM_NODE_HARDEN_H
#define GLOAM_NODE_HARDEN_H

#include <jansson.h>
#include <stdbool.h>

typedef struct node_posture {
  bool not_dumpable;     /* PR_GET_DUMPABLE == 0 */
  bool core_disabled;    /* RLIMIT_CORE soft and hard == 0 */
  bool no_new_privs;     /* PR_GET_NO_NEW_PRIVS == 1 */
  int seccomp_mode;      /* /proc/self/status Seccomp: 0 none, 1 strict, 2 filter; -1 unknown */
  int yama_ptrace_scope; /* 0..3, -1 when Yama is absent or unreadable */
  char lockdown[16];     /* "none" | "integrity" | "confidentiality" | "unknown" */
  char secure_boot[16];  /* "enabled" | "disabled" | "unknown" (no EFI or unreadable) */
  bool memfd_secret;     /* memfd_secret(2) works on this kernel */
  char key_memory[32];   /* where per-process private keys live: see secmem.h */
} node_posture;

/* PR_SET_DUMPABLE 0, RLIMIT_CORE 0, PR_SET_NO_NEW_PRIVS 1. GLOAM_EIO with
 * detail when one of them fails. */
int node_harden_early(char *err);
/* Installs the seccomp allowlist (kill the process on anything else).
 * GLOAM_EIO / GLOAM_EUNSUPPORTED with detail. */
int node_harden_seccomp(char *err);
/* Reads the posture now in force. key_memory is left as the caller set it. */
void node_posture_read(node_posture *p);
/* The posture as a JSON object (new reference), or NULL on ENOMEM. */
json_t *node_posture_json(const node_posture *p);

#endif
