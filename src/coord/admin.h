/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/admin.h: `gloam-coord admin ...`: accounts, credentials, credits,
 * prices, ledger checks and node identity pins, straight on the database
 * (no server needed; SQLite WAL lets it run beside a live coordinator).
 *
 *   gloam-coord admin --db gloam.db create-consumer --name alice --credit 5000000
 *   -> {"account":4,"api_key":"gk_..."}     (the key is shown this once)
 *
 * Every command prints one JSON object on stdout; errors go to stderr with
 * exit status 1 (usage: 2). Thread safety: a program entry point.
 */
#ifndef GLOAM_COORD_ADMIN_H
#define GLOAM_COORD_ADMIN_H

#include <stdio.h>

/* argv[0] is the subcommand's first word after "admin". */
int coord_admin_main(int argc, char **argv, FILE *out, FILE *errf);

#endif
