/* SPDX-License-Identifier: Apache-2.0
 *
 * node/secmem.h: memory for secrets that never reaches swap or a core dump.
 *
 *   const char *where = secmem_init();   // once, before any key exists
 *   void *p = secmem_alloc(4096);        // page-backed, locked, undumpable
 *   ... secmem_free(p, 4096);            // wiped, then unmapped
 *
 * DESIGN: secmem_alloc() uses memfd_secret(2) where the kernel has it (the
 * pages are removed from the kernel's direct map, so even the kernel does not
 * read them by accident, and they are never swapped); otherwise an anonymous
 * mapping that is mlock'd and marked MADV_DONTDUMP. The per-process keys
 * themselves live inside OpenSSL (EVP_PKEY); secmem_init() turns on
 * OpenSSL's secure heap (mmap + mlock + MADV_DONTDUMP, guard pages), where
 * OpenSSL 3 keeps EC and X25519 private scalars, and reports what it got:
 * "openssl-secure-heap" or "heap" when the secure heap could not be made
 * (e.g. RLIMIT_MEMLOCK too small). Never claims more than that.
 *
 * Thread safety: secmem_init() once from main before threads; alloc/free
 * from any thread.
 */
#ifndef GLOAM_NODE_SECMEM_H
#define GLOAM_NODE_SECMEM_H

#include <stddef.h>

const char *secmem_init(void);
/* NULL on failure. n is rounded up to whole pages. */
void *secmem_alloc(size_t n);
void secmem_free(void *p, size_t n);

#endif
