/* SPDX-License-Identifier: Apache-2.0
 *
 * err.h: gloam's error codes, shared by every public API.
 *
 * Fallible functions return int: 0 (GLOAM_OK) or a negative GLOAM_E* code.
 * The codes come from one X-macro table, so the enum and gloam_strerror()
 * cannot drift apart. Detail text lives in each handle (gloam_*_errmsg()).
 *
 *   int rc = gloam_engine_load(&m, path, NULL);
 *   if (rc < 0) fprintf(stderr, "%s: %s\n", gloam_strerror(rc), ...);
 */
#ifndef GLOAM_ERR_H
#define GLOAM_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#ifndef GLOAM_API
#define GLOAM_API __attribute__((visibility("default")))
#endif

/* X(NAME, value, message) */
#define GLOAM_ERRNO_MAP(X)                            \
  X(OK, 0, "success")                                 \
  X(ENOMEM, -1, "out of memory")                      \
  X(EINVAL, -2, "invalid argument")                   \
  X(ERANGE, -3, "value out of range")                 \
  X(ETOOBIG, -4, "size limit exceeded")               \
  X(EIO, -5, "input/output error")                    \
  X(ENOENT, -6, "not found")                          \
  X(EFORMAT, -7, "malformed input")                   \
  X(EUNSUPPORTED, -8, "not supported")                \
  X(ECRYPTO, -9, "cryptographic operation failed")    \
  X(EAUTH, -10, "authentication failed")              \
  X(ECANCELED, -11, "canceled")                       \
  X(ETIMEDOUT, -12, "timed out")                      \
  X(EAGAIN, -13, "resource temporarily unavailable")  \
  X(ESTATE, -14, "operation not valid in this state") \
  X(EREPLAY, -15, "replayed message")                 \
  X(ESTALE, -16, "stale message")                     \
  X(EBUSY, -17, "busy")                               \
  X(EPROTO, -18, "protocol error")                    \
  X(EPERM, -19, "permission denied")                  \
  X(EEXIST, -20, "already exists")                    \
  X(ECLOSED, -21, "connection closed")                \
  X(EPOLICY, -22, "rejected by policy")               \
  X(EINTERNAL, -23, "internal error")

enum gloam_err {
#define GLOAM_ERR_ENUM_(name, val, msg) GLOAM_##name = (val),
  GLOAM_ERRNO_MAP(GLOAM_ERR_ENUM_)
#undef GLOAM_ERR_ENUM_
};

/* Size of every handle's error-detail buffer, including the NUL. */
#define GLOAM_ERR_LEN 256

/* A static, never-NULL description of `code` ("unknown error" for codes not
 * in the table). Thread-safe. */
GLOAM_API const char *gloam_strerror(int code);

/* The symbolic name of `code` ("GLOAM_EINVAL"), static; "GLOAM_E?" if unknown. */
GLOAM_API const char *gloam_errname(int code);

#ifdef __cplusplus
}
#endif
#endif /* GLOAM_ERR_H */
