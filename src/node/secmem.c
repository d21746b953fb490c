/* SPDX-License-Identifier: Apache-2.0
 *
 * node/secmem.c: locked, undumpable memory for secrets (see secmem.h).
 */
#include "node/secmem.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/secure.h"

#define SECMEM_OPENSSL_HEAP (64 * 1024)

const char *secmem_init(void) {
  if (CRYPTO_secure_malloc_initialized()) return "openssl-secure-heap";
  if (CRYPTO_secure_malloc_init(SECMEM_OPENSSL_HEAP, 32) == 1) return "openssl-secure-heap";
  return "heap";
}

static size_t round_pages(size_t n) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  return (n + pg - 1) / pg * pg;
}

void *secmem_alloc(size_t n) {
  if (n == 0) return NULL;
  size_t len = round_pages(n);
  void *p = MAP_FAILED;
#ifdef SYS_memfd_secret
  long fd = syscall(SYS_memfd_secret, 0);
  if (fd >= 0) {
    if (ftruncate((int)fd, (off_t)len) == 0)
      p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
    close((int)fd);
    if (p != MAP_FAILED) return p;
  }
#endif
  p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if (mlock(p, len) != 0 || madvise(p, len, MADV_DONTDUMP) != 0) {
    munmap(p, len);
    return NULL;
  }
  return p;
}

void secmem_free(void *p, size_t n) {
  if (!p) return;
  size_t len = round_pages(n);
  secure_zero(p, len);
  munmap(p, len);
}
