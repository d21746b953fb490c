/* SPDX-License-Identifier: Apache-2.0
 *
 * node/service.c: the systemd unit and its installation (see service.h).
 */
#include "node/service.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "gloam/err.h"
#include "node/models_cache.h"

extern char **environ;

static int unit_path_ok(const char *p) {
  if (!p || p[0] != '/' || strlen(p) > 1024) return 0;
  for (const unsigned char *c = (const unsigned char *)p; *c; c++)
    if (*c <= ' ' || *c == '%' || *c == '"' || *c == '\'' || *c == '\\' || *c == 0x7f) return 0;
  return 1;
}

static const char SYSTEM_SANDBOX[] =
    "DynamicUser=yes\n"
    "StateDirectory=gloam-node\n"
    "StateDirectoryMode=0700\n"
    "CacheDirectory=gloam\n"
    "Environment=XDG_STATE_HOME=/var/lib XDG_CACHE_HOME=/var/cache\n"
    "EnvironmentFile=-/etc/gloam/node.env\n"
    "NoNewPrivileges=yes\n"
    "ProtectSystem=strict\n"
    "ProtectHome=yes\n"
    "PrivateTmp=yes\n"
    "PrivateDevices=yes\n"
    "ProtectKernelTunables=yes\n"
    "ProtectKernelModules=yes\n"
    "ProtectKernelLogs=yes\n"
    "ProtectControlGroups=yes\n"
    "ProtectClock=yes\n"
    "ProtectHostname=yes\n"
    "ProtectProc=invisible\n"
    "RestrictNamespaces=yes\n"
    "RemoveIPC=yes\n"
    "CapabilityBoundingSet=\n"
    "AmbientCapabilities=\n";

static const char USER_SANDBOX[] = "EnvironmentFile=-%h/.config/gloam/node.env\n";

/* Needs neither a mount nor a user namespace: fine for both managers. */
static const char COMMON_SANDBOX[] =
    "NoNewPrivileges=yes\n"
    "MemoryDenyWriteExecute=yes\n"
    "LockPersonality=yes\n"
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n"
    "RestrictRealtime=yes\n"
    "RestrictSUIDSGID=yes\n"
    "SystemCallArchitectures=native\n"
    "UMask=0077\n"
    "LimitCORE=0\n"
    "LimitMEMLOCK=64M\n"
    "Nice=10\n"
    "IOSchedulingClass=idle\n";

int node_service_unit(const node_service_opts *o, buf *out, char *err) {
  const char *cfg = o->config ? o->config : o->user ? NULL : "/etc/gloam/node.conf";
  if (!unit_path_ok(o->binary))
    return err_set(err, GLOAM_EINVAL, "binary path must be absolute, without spaces or %%");
  if (cfg && !unit_path_ok(cfg))
    return err_set(err, GLOAM_EINVAL, "config path must be absolute, without spaces or %%");
  int rc =
      buf_printf(out,
                 "# gloam-node provider daemon; written by `gloam-node install-service%s`\n"
                 "[Unit]\n"
                 "Description=gloam provider node\n"
                 "After=network-online.target\n"
                 "Wants=network-online.target\n"
                 "\n"
                 "[Service]\n"
                 "Type=simple\n"
                 "ExecStart=%s serve --config %s\n"
                 "Restart=on-failure\n"
                 "RestartSec=5\n"
                 "KillSignal=SIGTERM\n"
                 "TimeoutStopSec=300\n",
                 o->user ? " --user" : "", o->binary, cfg ? cfg : "%h/.config/gloam/node.conf");
  if (rc == 0) rc = buf_append_str(out, o->user ? USER_SANDBOX : SYSTEM_SANDBOX);
  if (rc == 0) rc = buf_append_str(out, COMMON_SANDBOX);
  if (rc == 0)
    rc = buf_printf(out, "\n[Install]\nWantedBy=%s\n",
                    o->user ? "default.target" : "multi-user.target");
  return rc < 0 ? err_set(err, rc, "unit text too long") : 0;
}

static int write_unit(const char *dir, const buf *text, char *path, size_t cap, char *err) {
  int rc = models_mkdirs(dir, 0755, err);
  if (rc < 0) return rc;
  char tmp[4200];
  if (snprintf(path, cap, "%s/gloam-node.service", dir) >= (int)cap ||
      snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return err_set(err, GLOAM_EINVAL, "unit directory path too long");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return err_set(err, GLOAM_EIO, "%s: %s", tmp, strerror(errno));
  int ok = write(fd, text->data, text->len) == (ssize_t)text->len && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) < 0) {
    unlink(tmp);
    return err_set(err, GLOAM_EIO, "writing %s failed", path);
  }
  return 0;
}

static int run_systemctl(int user, const char *verb, const char *unit) {
  char *argv[5];
  int i = 0;
  argv[i++] = "systemctl";
  if (user) argv[i++] = "--user";
  argv[i++] = (char *)verb;
  if (unit) argv[i++] = (char *)unit;
  argv[i] = NULL;
  pid_t pid;
  if (posix_spawnp(&pid, "systemctl", NULL, NULL, argv, environ) != 0) return -1;
  int st = 0;
  if (waitpid(pid, &st, 0) < 0) return -1;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int usage(void) {
  fprintf(stderr,
          "usage: gloam-node install-service [--user] [--print] [--config FILE]\n"
          "                                  [--unit-dir DIR] [--no-enable]\n");
  return 2;
}

int node_service_main(int argc, char **argv) {
  char err[GLOAM_ERR_LEN], exe[1100], unit_dir[4096] = "", path[4200];
  node_service_opts o = {0};
  int print = 0, enable = 1;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--user"))
      o.user = 1;
    else if (!strcmp(argv[i], "--print") || !strcmp(argv[i], "--dry-run"))
      print = 1;
    else if (!strcmp(argv[i], "--no-enable"))
      enable = 0;
    else if (!strcmp(argv[i], "--config") && i + 1 < argc)
      o.config = argv[++i];
    else if (!strcmp(argv[i], "--unit-dir") && i + 1 < argc)
      snprintf(unit_dir, sizeof unit_dir, "%s", argv[++i]);
    else
      return usage();
  }
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    fprintf(stderr, "gloam-node: cannot find its own path\n");
    return 1;
  }
  exe[n] = 0;
  o.binary = exe;
  buf text;
  buf_init(&text, 16384);
  int code = 1;
  if (node_service_unit(&o, &text, err) < 0) {
    fprintf(stderr, "gloam-node: install-service: %s\n", err);
    goto done;
  }
  if (print) {
    fwrite(text.data, 1, text.len, stdout);
    code = 0;
    goto done;
  }
  if (!unit_dir[0]) {
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (!o.user)
      snprintf(unit_dir, sizeof unit_dir, "/etc/systemd/system");
    else if (xdg && *xdg)
      snprintf(unit_dir, sizeof unit_dir, "%s/systemd/user", xdg);
    else if (home && *home)
      snprintf(unit_dir, sizeof unit_dir, "%s/.config/systemd/user", home);
  }
  if (!unit_dir[0] || write_unit(unit_dir, &text, path, sizeof path, err) < 0) {
    fprintf(stderr, "gloam-node: install-service: %s\n", unit_dir[0] ? err : "no HOME");
    goto done;
  }
  printf("wrote %s\n", path);
  code = 0;
  if (enable) {
    if (run_systemctl(o.user, "daemon-reload", NULL) < 0 ||
        run_systemctl(o.user, "enable", "gloam-node.service") < 0) {
      fprintf(stderr, "gloam-node: systemctl%s enable failed; enable it by hand\n",
              o.user ? " --user" : "");
      code = 1;
    } else {
      printf("enabled; start with: systemctl%s start gloam-node\n", o.user ? " --user" : "");
    }
  }
done:
  buf_deinit(&text);
  return code;
}
