/* SPDX-License-Identifier: Apache-2.0
 *
 * node/harden.c: process hardening and posture detection (see harden.h).
 *
 * DESIGN: the seccomp allowlist is the set of system calls the running node
 * makes after start-up: libevent's epoll loop and sockets, threads blocking
 * on futexes, memory management, clocks, getrandom for signatures, reading
 * files read-only (name resolution on reconnect, /proc for load), and exit.
 * Anything else (execve, ptrace, process_vm_readv, fork, open for writing,
 * mount, bpf, keyctl, ...) kills the process: a bug in the node that gives an
 * attacker code execution cannot spawn a shell, write files or inspect other
 * processes through the kernel. clone is allowed only with CLONE_THREAD;
 * clone3 answers ENOSYS so libc falls back to clone, whose flags seccomp can
 * see. ioctl is limited to FIONREAD (libevent sizes reads with it).
 * Sanitizer builds add what ASan/LSan need at exit (ptrace of its own
 * threads and friends); release builds do not.
 */
#include "node/harden.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/err.h"
#include "gloam/err.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NODE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NODE_SANITIZED 1
#endif
#endif

int node_harden_early(char *err) {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return err_set(err, GLOAM_EIO, "PR_SET_DUMPABLE: %s", strerror(errno));
  struct rlimit rl = {0, 0};
  if (setrlimit(RLIMIT_CORE, &rl) != 0)
    return err_set(err, GLOAM_EIO, "RLIMIT_CORE: %s", strerror(errno));
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return err_set(err, GLOAM_EIO, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
  return 0;
}

static const char *const allowed[] = {
    /* I/O and the event loop */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "close",
    "lseek",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_ctl",
    "epoll_create",
    "epoll_create1",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "eventfd2",
    "pipe",
    "pipe2",
    "fcntl",
    "dup",
    "dup3",
    "socket",
    "connect",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "shutdown",
    "bind",
    "fstat",
    "newfstatat",
    "statx",
    "stat",
    "lstat",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents64",
    "uname",
    "sysinfo",
    /* memory */
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "madvise",
    "mprotect",
    "mlock",
    "munlock",
    "membarrier",
    /* threads and time */
    "futex",
    "futex_waitv",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "getrandom",
    "gettid",
    "getpid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getrusage",
    "times",
    "getpriority",
    "prlimit64",
    "set_tid_address",
    "timerfd_create",
    "timerfd_settime",
    "memfd_secret",
    /* signals and exit */
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "tgkill",
    "tkill",
    "exit",
    "exit_group",
    "restart_syscall",
    /* the status socket (status.h), listening since before the filter */
    "accept4",
#ifdef NODE_SANITIZED
    "ptrace",
    "wait4",
    "prctl",
    "openat",
    "getdents",
    "open",
    "unlink",
    "getrlimit",
    "setrlimit",
    "process_vm_readv",
    "sched_getparam",
    "sched_getscheduler",
#endif
};

/* One rule with one argument comparison (libseccomp's SCMP_A* macros leave
 * a field to the default, which clang's -Wmissing-field-initializers flags). */
static int rule1(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned arg, enum scmp_compare op,
                 scmp_datum_t a, scmp_datum_t b) {
  struct scmp_arg_cmp c = {.arg = arg, .op = op, .datum_a = a, .datum_b = b};
  return seccomp_rule_add_array(ctx, action, nr, 1, &c);
}

static int add_rules(scmp_filter_ctx ctx) {
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
    int nr = seccomp_syscall_resolve_name(allowed[i]);
    if (nr == __NR_SCMP_ERROR) continue; /* not on this architecture */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0) return -1;
  }
  /* threads only: a new process could escape the filter's reach via exec */
  int rc = rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0, SCMP_CMP_MASKED_EQ, CLONE_THREAD,
                 CLONE_THREAD);
#ifdef NODE_SANITIZED
  if (rc == 0)
    rc = rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0);
#endif
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* files: read-only */
#ifndef NODE_SANITIZED
  if (rc == 0)
    rc = rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 2, SCMP_CMP_MASKED_EQ,
               O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY);
#endif
    /* posture read-back after the filter is on */
#ifndef NODE_SANITIZED
  if (rc == 0) rc = rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 0, SCMP_CMP_EQ, PR_GET_DUMPABLE, 0);
  if (rc == 0)
    rc = rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 0, SCMP_CMP_EQ, PR_GET_NO_NEW_PRIVS, 0);
#endif
  if (rc == 0)
    rc = rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_CMP_EQ, (scmp_datum_t)FIONREAD, 0);
#ifdef __x86_64__
  /* The kernels ask for AMX tile state (ARCH_REQ_XCOMP_PERM, 0x1023) on the
   * first large prefill; that request only enables a CPU feature. */
  if (rc == 0) rc = rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(arch_prctl), 0, SCMP_CMP_EQ, 0x1023, 0);
#endif
  return rc < 0 ? -1 : 0;
}

#ifdef NODE_SANITIZED
/* Sanitizer builds trap instead of killing, and say which call it was. */
static void on_sigsys(int sig, siginfo_t *si, void *uc) {
  char msg[64];
  int n = snprintf(msg, sizeof msg, "gloam-node: seccomp denied syscall %d\n", si->si_syscall);
  if (n > 0) (void)!write(2, msg, (size_t)n);
  _exit(98);
}
#define NODE_SECCOMP_DEFAULT SCMP_ACT_ERRNO(EPERM)
#else
#define NODE_SECCOMP_DEFAULT SCMP_ACT_KILL_PROCESS
#endif

int node_harden_seccomp(char *err) {
#ifdef NODE_SANITIZED
  struct sigaction sa = {0};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSYS, &sa, NULL);
#endif
  scmp_filter_ctx ctx = seccomp_init(NODE_SECCOMP_DEFAULT);
  if (!ctx) return err_set(err, GLOAM_EUNSUPPORTED, "seccomp_init failed");
  int rc = 0;
  if (add_rules(ctx) < 0) {
    rc = err_set(err, GLOAM_EIO, "seccomp rule failed");
    goto out;
  }
  if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0) {
    rc = err_set(err, GLOAM_EUNSUPPORTED, "seccomp TSYNC unavailable");
    goto out;
  }
  int lrc = seccomp_load(ctx);
  if (lrc < 0) rc = err_set(err, GLOAM_EIO, "seccomp_load: %s", strerror(-lrc));
out:
  seccomp_release(ctx);
  return rc;
}

/* Reads a small file into out (NUL-terminated, newline stripped). */
static int read_small(const char *path, char *out, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, out, cap - 1);
  close(fd);
  if (n < 0) return -1;
  out[n] = 0;
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ')) out[--n] = 0;
  return (int)n;
}

static int seccomp_mode(void) {
  char s[4096];
  if (read_small("/proc/self/status", s, sizeof s) < 0) return -1;
  const char *p = strstr(s, "\nSeccomp:");
  if (!p) return -1;
  p += 9;
  while (*p == ' ' || *p == '\t') p++;
  return *p >= '0' && *p <= '2' ? *p - '0' : -1;
}

static void read_lockdown(char *out, size_t cap) {
  char s[128];
  snprintf(out, cap, "unknown");
  if (read_small("/sys/kernel/security/lockdown", s, sizeof s) < 0) return;
  const char *a = strchr(s, '['), *b = a ? strchr(a, ']') : NULL;
  if (!a || !b) return;
  size_t n = (size_t)(b - a - 1);
  if (n == 0 || n >= cap) return;
  memcpy(out, a + 1, n);
  out[n] = 0;
}

static void read_secure_boot(char *out, size_t cap) {
  static const char path[] =
      "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";
  snprintf(out, cap, "unknown");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  unsigned char b[5];
  ssize_t n = read(fd, b, sizeof b); /* 4 attribute bytes, then the value */
  close(fd);
  if (n == 5) snprintf(out, cap, "%s", b[4] == 1 ? "enabled" : "disabled");
}

static bool probe_memfd_secret(void) {
#ifdef SYS_memfd_secret
  long fd = syscall(SYS_memfd_secret, 0);
  if (fd < 0) return false;
  close((int)fd);
  return true;
#else
  return false;
#endif
}

void node_posture_read(node_posture *p) {
  p->not_dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0;
  struct rlimit rl;
  p->core_disabled = getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 && rl.rlim_max == 0;
  p->no_new_privs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
  p->seccomp_mode = seccomp_mode();
  char s[16];
  p->yama_ptrace_scope = -1;
  if (read_small("/proc/sys/kernel/yama/ptrace_scope", s, sizeof s) == 1 && s[0] >= '0' &&
      s[0] <= '3')
    p->yama_ptrace_scope = s[0] - '0';
  read_lockdown(p->lockdown, sizeof p->lockdown);
  read_secure_boot(p->secure_boot, sizeof p->secure_boot);
  p->memfd_secret = probe_memfd_secret();
}

json_t *node_posture_json(const node_posture *p) {
  json_t *yama = p->yama_ptrace_scope >= 0 ? json_integer(p->yama_ptrace_scope) : json_null();
  return json_pack("{s:b,s:b,s:b,s:s,s:o,s:s,s:s,s:b,s:s}", "not_dumpable", p->not_dumpable,
                   "core_disabled", p->core_disabled, "no_new_privs", p->no_new_privs, "seccomp",
                   p->seccomp_mode == 2   ? "filter"
                   : p->seccomp_mode == 1 ? "strict"
                   : p->seccomp_mode == 0 ? "none"
                                          : "unknown",
                   "yama_ptrace_scope", yama, "lockdown", p->lockdown, "secure_boot",
                   p->secure_boot, "memfd_secret", p->memfd_secret, "key_memory", p->key_memory);
}
