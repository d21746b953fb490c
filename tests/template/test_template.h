/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/template/test_template.h: helpers shared by the template module's
 * test files (test_template.c runs them all in one binary).
 */
#ifndef GLOAM_TEST_TEMPLATE_H
#define GLOAM_TEST_TEMPLATE_H

#include <string.h>

#include "gloam/chat.h"
#include "test.h"

extern const test_case template_jinja_tests[];
extern const test_case template_toolcall_tests[];

/* Renders tmpl with vars_json as the extra variables (messages = []). */
char *render_vars(const char *tmpl, const char *vars_json, int *rc_out, char *err);

/* Renders tmpl with vars and compares with want. */
#define CHECK_RENDER(tmpl, vars, want)                                                         \
  do {                                                                                         \
    char err_[GLOAM_ERR_LEN] = "";                                                             \
    int rc_;                                                                                   \
    char *got_ = render_vars((tmpl), (vars), &rc_, err_);                                      \
    if (rc_ < 0) test_fail(__FILE__, __LINE__, "render %s failed: %s", #tmpl, err_);           \
    if (strcmp(got_, (want)) != 0)                                                             \
      test_fail(__FILE__, __LINE__, "template %s\n  got  \"%s\"\n  want \"%s\"", (tmpl), got_, \
                (want));                                                                       \
    gloam_chat_free(got_);                                                                     \
  } while (0)

/* Renders and expects failure code with err containing needle. */
#define CHECK_FAIL(tmpl, vars, code, needle)                                               \
  do {                                                                                     \
    char err_[GLOAM_ERR_LEN] = "";                                                         \
    int rc_;                                                                               \
    char *got_ = render_vars((tmpl), (vars), &rc_, err_);                                  \
    if (rc_ != (code))                                                                     \
      test_fail(__FILE__, __LINE__, "template %s: rc %d (%s), want %d", (tmpl), rc_, err_, \
                (code));                                                                   \
    if (!strstr(err_, (needle)))                                                           \
      test_fail(__FILE__, __LINE__, "error \"%s\" lacks \"%s\"", err_, (needle));          \
    gloam_chat_free(got_);                                                                 \
  } while (0)

#endif
