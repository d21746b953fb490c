/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/node/test_node_models.c: `gloam-node models pull|list` against a
 * local Hugging Face-compatible server (tests/node/hf_server.mjs, Node.js)
 * serving the qwen3 fixture files: full download (through the Hub's 302 to
 * a CDN path), resume after a cut connection (within one pull and across
 * pulls, checked by the Range header the server saw), a wrong SHA-256 and
 * a wrong git blob id rejected, size mismatches rejected, 404s, two
 * concurrent pulls of one repository (one transfer), the CLI, and serve
 * refusing a directory with a partial download.
 *
 * Independent references: the listing's checksums are computed here with
 * OpenSSL's SHA256() and `git hash-object` (git's own blob id), and the
 * downloaded bytes are compared with the fixture files.
 */
#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../harness/test.h"
#include "gloam/err.h"
#include "node/hf_api.h"
#include "node/models_cache.h"
#include "node/models_pull.h"

extern char **environ;

#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define REPO "test/tiny"

static struct {
  pid_t pid;
  char *root, *dir;
  char endpoint[64];
  char log[4200], ctl[4200], api[4200];
} S;

static const char *const FILES[] = {"config.json", "generation_config.json", "model.safetensors",
                                    "extra/readme.txt"};
#define N_FILES 4

static char *path2(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *p = malloc(n);
  snprintf(p, n, "%s/%s", a, b);
  return p;
}

static void write_file(const char *path, const void *d, size_t n) {
  FILE *f = fopen(path, "wb");
  ASSERT_NOT_NULL(f);
  ASSERT_EQ_UINT(fwrite(d, 1, n, f), n);
  ASSERT_EQ_INT(fclose(f), 0);
}

static void copy_fixture(const char *rel, const char *dst) {
  char *src = test_fixture_path(rel);
  size_t n;
  void *d = test_read_file(src, &n);
  ASSERT_NOT_NULL(d);
  write_file(dst, d, n);
  free(d);
  free(src);
}

static void stop_server(void) {
  if (S.pid > 0) {
    kill(S.pid, SIGTERM);
    waitpid(S.pid, NULL, 0);
    S.pid = 0;
  }
}

/* Starts hf_server.mjs over a root holding the fixture files. 0, or -1
 * when Node.js is not available. */
static int start_server(void) {
  S.root = test_tmpdir();
  char *p = path2(S.root, "extra");
  mkdir(p, 0755);
  free(p);
  static const char *const src[] = {"models/qwen3/config.json",
                                    "models/qwen3/generation_config.json",
                                    "models/qwen3/model.safetensors", "README.md"};
  for (int i = 0; i < N_FILES; i++) {
    p = path2(S.root, FILES[i]);
    copy_fixture(src[i], p);
    free(p);
  }
  char *tmp = test_tmpdir(), *port_file = path2(tmp, "port"), *script;
  snprintf(S.log, sizeof S.log, "%s/log", tmp);
  snprintf(S.ctl, sizeof S.ctl, "%s/ctl.json", tmp);
  snprintf(S.api, sizeof S.api, "%s/api.json", tmp);
  const char *srcdir = getenv("GLOAM_SOURCE_DIR");
  script = path2(srcdir ? srcdir : ".", "tests/node/hf_server.mjs");
  char *argv[] = {"node", script, S.root, port_file, S.log, S.ctl, NULL};
  int rc = posix_spawnp(&S.pid, "node", NULL, NULL, argv, environ);
  free(script);
  if (rc != 0) return -1;
  atexit(stop_server);
  for (int i = 0; i < 500; i++) {
    size_t n;
    char *d = test_read_file(port_file, &n);
    if (d) {
      snprintf(S.endpoint, sizeof S.endpoint, "http://127.0.0.1:%.*s", (int)n, d);
      free(d);
      break;
    }
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
  }
  free(port_file);
  free(tmp);
  return S.endpoint[0] ? 0 : -1;
}

static void need_server(void) {
  if (!S.endpoint[0] && start_server() < 0) TEST_SKIP("node (Node.js) not available");
}

/* git's blob id of a file, from git itself. */
static void git_blob_id(const char *path, char out[41]) {
  char cmd[4300];
  snprintf(cmd, sizeof cmd, "git hash-object '%s'", path);
  FILE *f = popen(cmd, "r");
  ASSERT_NOT_NULL(f);
  ASSERT_NOT_NULL(fgets(out, 41, f));
  pclose(f);
  ASSERT_EQ_INT(strlen(out), 40);
}

static void sha256_hex(const char *path, char out[65]) {
  size_t n;
  unsigned char *d = test_read_file(path, &n), md[32];
  ASSERT_NOT_NULL(d);
  SHA256(d, n, md);
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
  free(d);
}

/* Writes the listing as the Hub does with ?blobs=true (safetensors as an LFS
 * file). size_delta / bad_sha tamper with model.safetensors' entry; extra
 * lists a file the server does not have. */
static void write_api(long size_delta, int bad_sha, const char *extra) {
  char json[8192];
  size_t o = (size_t)snprintf(json, sizeof json, "{\"id\":\"%s\",\"sha\":\"%s\",\"siblings\":[",
                              REPO, COMMIT);
  for (int i = 0; i < N_FILES; i++) {
    char *p = path2(S.root, FILES[i]), blob[41], sha[65];
    struct stat st;
    ASSERT_EQ_INT(stat(p, &st), 0);
    git_blob_id(p, blob);
    int lfs = strstr(FILES[i], ".safetensors") != NULL;
    if (lfs) {
      sha256_hex(p, sha);
      if (bad_sha) sha[10] = sha[10] == '0' ? '1' : '0';
      long sz = (long)st.st_size + size_delta;
      o += (size_t)snprintf(json + o, sizeof json - o,
                            "%s{\"rfilename\":\"%s\",\"size\":%ld,\"blobId\":\"%s\","
                            "\"lfs\":{\"sha256\":\"%s\",\"size\":%ld,\"pointerSize\":134}}",
                            i ? "," : "", FILES[i], sz, blob, sha, sz);
    } else {
      o += (size_t)snprintf(json + o, sizeof json - o,
                            "%s{\"rfilename\":\"%s\",\"size\":%ld,\"blobId\":\"%s\"}", i ? "," : "",
                            FILES[i], (long)st.st_size, blob);
    }
    free(p);
  }
  if (extra)
    o += (size_t)snprintf(json + o, sizeof json - o,
                          ",{\"rfilename\":\"%s\",\"size\":3,\"blobId\":\"%040d\"}", extra, 0);
  snprintf(json + o, sizeof json - o, "]}");
  write_file(S.api, json, strlen(json));
}

static void write_ctl(const char *extra_json) {
  char ctl[9000];
  snprintf(ctl, sizeof ctl, "{\"repo\":\"%s\",\"api\":\"%s\"%s%s}", REPO, S.api,
           extra_json ? "," : "", extra_json ? extra_json : "");
  write_file(S.ctl, ctl, strlen(ctl));
}

/* Fresh models dir, empty server log, default listing and no faults. */
static void fresh(void) {
  need_server();
  free(S.dir);
  S.dir = test_tmpdir();
  write_file(S.log, "", 0);
  write_api(0, 0, NULL);
  write_ctl(NULL);
}

static int pull(const char *const *files, size_t n_files, int retries, char *snap, char *err) {
  models_pull_opts o = {.endpoint = S.endpoint,
                        .models_dir = S.dir,
                        .ref = REPO,
                        .files = files,
                        .n_files = n_files,
                        .retries = retries,
                        .stall_s = 10};
  return models_pull(&o, snap, 4096, err);
}

static int log_count(const char *needle) {
  size_t n;
  char *d = test_read_file(S.log, &n);
  if (!d) return 0;
  int c = 0;
  for (char *p = d; (p = strstr(p, needle)); p++) c++;
  free(d);
  return c;
}

static void assert_same(const char *snap, const char *rel) {
  char *a = path2(S.root, rel), *b = path2(snap, rel);
  size_t na, nb;
  void *da = test_read_file(a, &na), *db = test_read_file(b, &nb);
  ASSERT_NOT_NULL(da);
  ASSERT_NOT_NULL(db);
  ASSERT_EQ_UINT(na, nb);
  ASSERT_EQ_MEM(da, db, na);
  free(da), free(db), free(a), free(b);
}

static int exists(const char *dir, const char *rel) {
  char *p = path2(dir, rel);
  int r = access(p, F_OK) == 0;
  free(p);
  return r;
}

static void test_hf_names(void) {
  ASSERT_TRUE(hf_path_ok("model.safetensors"));
  ASSERT_TRUE(hf_path_ok("onnx/model_q4.onnx"));
  ASSERT_FALSE(hf_path_ok("../x"));
  ASSERT_FALSE(hf_path_ok("a/../../x"));
  ASSERT_FALSE(hf_path_ok("/etc/passwd"));
  ASSERT_FALSE(hf_path_ok("a//b"));
  ASSERT_FALSE(hf_path_ok("a/./b"));
  ASSERT_FALSE(hf_path_ok("x.partial"));
  ASSERT_FALSE(hf_path_ok("x\\y"));
  ASSERT_TRUE(hf_repo_ok("Qwen/Qwen3-0.6B"));
  ASSERT_TRUE(hf_repo_ok("gpt2"));
  ASSERT_FALSE(hf_repo_ok("a/b/c"));
  ASSERT_FALSE(hf_repo_ok("../b"));
  char repo[HF_REPO_MAX + 1], rev[HF_REV_MAX + 1], err[GLOAM_ERR_LEN];
  ASSERT_OK(hf_split_ref("Qwen/Qwen3-0.6B@refs/pr/1", repo, sizeof repo, rev, sizeof rev, err));
  ASSERT_EQ_STR(repo, "Qwen/Qwen3-0.6B");
  ASSERT_EQ_STR(rev, "refs/pr/1");
  ASSERT_OK(hf_split_ref("gpt2", repo, sizeof repo, rev, sizeof rev, err));
  ASSERT_EQ_STR(rev, "main");
  ASSERT_EQ_INT(hf_split_ref("x@..", repo, sizeof repo, rev, sizeof rev, err), GLOAM_EINVAL);
  hf_repo_info info;
  const char *evil = "{\"sha\":\"" COMMIT
                     "\",\"siblings\":[{\"rfilename\":\"../../.bashrc\","
                     "\"size\":1,\"blobId\":\"" COMMIT "\"}]}";
  ASSERT_EQ_INT(hf_repo_info_parse(evil, strlen(evil), &info, err), GLOAM_EFORMAT);
  const char *ok = "{\"sha\":\"" COMMIT
                   "\",\"siblings\":[{\"rfilename\":\"a.bin\",\"size\":5,"
                   "\"lfs\":{\"sha256\":\"" COMMIT "0123456789abcdef01234567\",\"size\":5}}]}";
  ASSERT_OK(hf_repo_info_parse(ok, strlen(ok), &info, err));
  ASSERT_EQ_UINT(info.n_files, 1);
  ASSERT_EQ_INT(info.files[0].size, 5);
  ASSERT_TRUE(info.files[0].has_sha256);
  ASSERT_FALSE(info.files[0].has_git_sha1);
  hf_repo_info_deinit(&info);
}

static void test_pull_full(void) {
  fresh();
  char snap[4096], err[GLOAM_ERR_LEN], want[4200];
  int rc = pull(NULL, 0, 0, snap, err);
  if (rc < 0) fprintf(stderr, "pull: %s\n", err);
  ASSERT_EQ_INT(rc, 0);
  snprintf(want, sizeof want, "%s/test--tiny/snapshots/%s", S.dir, COMMIT);
  ASSERT_EQ_STR(snap, want);
  for (int i = 0; i < N_FILES; i++) assert_same(snap, FILES[i]);
  ASSERT_EQ_INT(log_count("\"/_cdn/model.safetensors\""), 1); /* followed the 302 */
  ASSERT_EQ_INT(log_count("?blobs=true"), 1);
  ASSERT_OK(models_dir_servable(snap, err));
  /* refs/main names the commit, and REPO resolves to the snapshot */
  char commit[41], resolved[4096];
  ASSERT_OK(models_ref_read(S.dir, REPO, "main", commit, err));
  ASSERT_EQ_STR(commit, COMMIT);
  ASSERT_OK(models_resolve(S.dir, REPO, resolved, sizeof resolved, err));
  ASSERT_EQ_STR(resolved, snap);
  /* a second pull transfers nothing */
  ASSERT_OK(pull(NULL, 0, 0, snap, err));
  ASSERT_EQ_INT(log_count("/resolve/"), N_FILES);
  char *listing = path2(S.dir, "list.txt");
  FILE *f = fopen(listing, "w");
  ASSERT_OK(models_list(S.dir, f, err));
  fclose(f);
  size_t n;
  char *text = test_read_file(listing, &n);
  ASSERT_NOT_NULL(text);
  ASSERT_TRUE(strstr(text, "test/tiny") && strstr(text, " main ") && strstr(text, " ok "));
  ASSERT_TRUE(strstr(text, "4 files") != NULL);
  free(text);
  free(listing);
}

static void test_pull_resume(void) {
  fresh();
  char snap[4096], err[GLOAM_ERR_LEN];
  const char *only[] = {"model.safetensors"};
  /* the connection is cut at byte 100000; no retry: the pull fails and the
   * partial file is kept, and the directory is not servable */
  write_ctl("\"cut\":{\"file\":\"model.safetensors\",\"after\":100000,\"times\":1}");
  ASSERT_EQ_INT(pull(only, 1, 0, snap, err), GLOAM_EIO);
  char sd[4200];
  snprintf(sd, sizeof sd, "%s/test--tiny/snapshots/%s", S.dir, COMMIT);
  ASSERT_TRUE(exists(sd, "model.safetensors.partial"));
  ASSERT_FALSE(exists(sd, "model.safetensors"));
  ASSERT_EQ_INT(models_dir_servable(sd, err), GLOAM_ESTATE);
  ASSERT_TRUE(strstr(err, "model.safetensors.partial") != NULL);
  /* the next pull asks for the rest only */
  ASSERT_OK(pull(only, 1, 0, snap, err));
  ASSERT_EQ_INT(log_count("_cdn/model.safetensors\",\"range\":\"bytes=100000-\""), 1);
  assert_same(snap, "model.safetensors");
  ASSERT_FALSE(exists(sd, "model.safetensors.partial"));
  ASSERT_OK(models_dir_servable(sd, err));
  /* within one pull: a cut at 200000 is retried with a Range request */
  fresh();
  write_ctl("\"cut\":{\"file\":\"model.safetensors\",\"after\":200000,\"times\":1}");
  ASSERT_OK(pull(only, 1, 2, snap, err));
  ASSERT_EQ_INT(log_count("_cdn/model.safetensors\",\"range\":\"bytes=200000-\""), 1);
  assert_same(snap, "model.safetensors");
  /* a server that ignores Range (200, whole file): the partial (here
   * garbage) is truncated and the file fetched from the start */
  fresh();
  snprintf(sd, sizeof sd, "%s/test--tiny/snapshots/%s", S.dir, COMMIT);
  char cmd[4400];
  snprintf(cmd, sizeof cmd,
           "mkdir -p %s && head -c 50000 /dev/urandom > %s/model.safetensors.partial", sd, sd);
  ASSERT_EQ_INT(system(cmd), 0);
  write_ctl("\"ignore_range\":true");
  ASSERT_OK(pull(only, 1, 0, snap, err));
  ASSERT_EQ_INT(log_count("\"range\":\"bytes=50000-\""), 2); /* asked, answered with 200 */
  assert_same(snap, "model.safetensors");
}

static void test_pull_bad_checksum(void) {
  fresh();
  char snap[4096], err[GLOAM_ERR_LEN], sd[4200];
  snprintf(sd, sizeof sd, "%s/test--tiny/snapshots/%s", S.dir, COMMIT);
  write_api(0, 1, NULL); /* wrong LFS sha256 */
  ASSERT_EQ_INT(pull(NULL, 0, 2, snap, err), GLOAM_EFORMAT);
  ASSERT_TRUE(strstr(err, "sha256") != NULL);
  ASSERT_FALSE(exists(sd, "model.safetensors"));
  ASSERT_FALSE(exists(sd, "model.safetensors.partial"));
  ASSERT_TRUE(exists(sd, "model.safetensors.failed"));
  ASSERT_EQ_INT(models_dir_servable(sd, err), GLOAM_ESTATE);
  /* a correct listing heals it */
  write_api(0, 0, NULL);
  ASSERT_OK(pull(NULL, 0, 0, snap, err));
  ASSERT_FALSE(exists(sd, "model.safetensors.failed"));
  ASSERT_OK(models_dir_servable(sd, err));
  /* a git-stored file whose content is altered fails its blob id */
  fresh();
  snprintf(sd, sizeof sd, "%s/test--tiny/snapshots/%s", S.dir, COMMIT);
  write_ctl("\"corrupt\":\"config.json\"");
  ASSERT_EQ_INT(pull(NULL, 0, 0, snap, err), GLOAM_EFORMAT);
  ASSERT_TRUE(strstr(err, "git blob id") != NULL);
  ASSERT_FALSE(exists(sd, "config.json"));
  ASSERT_TRUE(exists(sd, "config.json.failed"));
}

static void test_pull_size_mismatch(void) {
  char snap[4096], err[GLOAM_ERR_LEN], sd[4200];
  const char *only[] = {"model.safetensors"};
  for (int k = 0; k < 2; k++) {
    fresh();
    snprintf(sd, sizeof sd, "%s/test--tiny/snapshots/%s", S.dir, COMMIT);
    write_api(k ? -10 : 10, 0, NULL);
    ASSERT_EQ_INT(pull(only, 1, 2, snap, err), GLOAM_EFORMAT);
    ASSERT_TRUE(strstr(err, "size") != NULL);
    ASSERT_FALSE(exists(sd, "model.safetensors"));
    ASSERT_FALSE(exists(sd, "model.safetensors.partial"));
    ASSERT_EQ_INT(models_dir_servable(sd, err), GLOAM_ESTATE);
  }
  /* listed 10 bytes longer, and the partial already holds the server's
   * whole file: the server answers 416 to the Range request */
  fresh();
  snprintf(sd, sizeof sd, "%s/test--tiny/snapshots/%s", S.dir, COMMIT);
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/model.safetensors %s/model.safetensors.partial",
           sd, S.root, sd);
  ASSERT_EQ_INT(system(cmd), 0);
  write_api(10, 0, NULL);
  ASSERT_EQ_INT(pull(only, 1, 2, snap, err), GLOAM_EFORMAT);
  ASSERT_TRUE(strstr(err, "fewer bytes") != NULL);
  ASSERT_FALSE(exists(sd, "model.safetensors.partial"));
  ASSERT_TRUE(exists(sd, "model.safetensors.failed"));
}

static void test_pull_not_found(void) {
  fresh();
  char snap[4096], err[GLOAM_ERR_LEN];
  models_pull_opts o = {.endpoint = S.endpoint, .models_dir = S.dir, .ref = "nobody/nothing"};
  ASSERT_EQ_INT(models_pull(&o, snap, sizeof snap, err), GLOAM_ENOENT);
  ASSERT_TRUE(strstr(err, "404") != NULL);
  const char *missing[] = {"no-such-file.bin"};
  ASSERT_EQ_INT(pull(missing, 1, 0, snap, err), GLOAM_ENOENT);
  write_api(0, 0, "gone.bin"); /* listed, but the server has no such file */
  const char *gone[] = {"gone.bin"};
  ASSERT_EQ_INT(pull(gone, 1, 3, snap, err), GLOAM_ENOENT);
  ASSERT_TRUE(strstr(err, "404") != NULL);
  ASSERT_EQ_INT(log_count("gone.bin"), 1); /* not retried */
}

static void *pull_thread(void *arg) {
  static char snaps[2][4096];
  char err[GLOAM_ERR_LEN];
  int i = (int)(long)arg;
  long rc = pull(NULL, 0, 0, snaps[i], err);
  if (rc < 0) fprintf(stderr, "pull %d: %s\n", i, err);
  return (void *)rc;
}

static void test_pull_concurrent(void) {
  fresh();
  write_ctl("\"throttle_ms\":20");
  pthread_t t[2];
  for (long i = 0; i < 2; i++)
    ASSERT_EQ_INT(pthread_create(&t[i], NULL, pull_thread, (void *)i), 0);
  void *r[2];
  for (int i = 0; i < 2; i++) pthread_join(t[i], &r[i]);
  ASSERT_EQ_INT((long)r[0], 0);
  ASSERT_EQ_INT((long)r[1], 0);
  ASSERT_EQ_INT(log_count("?blobs=true"), 2);
  ASSERT_EQ_INT(log_count("\"/_cdn/model.safetensors\""), 1);
  char sd[4200];
  snprintf(sd, sizeof sd, "%s/test--tiny/snapshots/%s", S.dir, COMMIT);
  for (int i = 0; i < N_FILES; i++) assert_same(sd, FILES[i]);
}

static int run_bin(char *const argv[], char *out, size_t cap) {
  int fds[2];
  if (pipe(fds) < 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  size_t n = 0;
  ssize_t r;
  while (rc == 0 && (r = read(fds[0], out + n, cap - 1 - n)) > 0) n += (size_t)r;
  out[n] = 0;
  close(fds[0]);
  int st = 0;
  if (rc == 0) waitpid(pid, &st, 0);
  return rc == 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void) {
  const char *bin = getenv("GLOAM_NODE_BIN");
  if (!bin) TEST_SKIP("GLOAM_NODE_BIN not set");
  fresh();
  char out[8192];
  char *pull_argv[] = {(char *)bin,    "models", "pull",   REPO,          "--endpoint", S.endpoint,
                       "--models-dir", S.dir,    "--file", "config.json", NULL};
  ASSERT_EQ_INT(run_bin(pull_argv, out, sizeof out), 0);
  ASSERT_TRUE(strstr(out, "config.json: 832 bytes, checksum ok") != NULL);
  ASSERT_TRUE(strstr(out, COMMIT) != NULL);
  char *list_argv[] = {(char *)bin, "models", "list", "--models-dir", S.dir, NULL};
  ASSERT_EQ_INT(run_bin(list_argv, out, sizeof out), 0);
  ASSERT_TRUE(strstr(out, "test/tiny") != NULL);
  /* serve refuses a model directory holding a partial download */
  char sd[4200];
  snprintf(sd, sizeof sd, "%s/test--tiny/snapshots/%s", S.dir, COMMIT);
  char *part = path2(sd, "model.safetensors.partial");
  write_file(part, "x", 1);
  free(part);
  char *serve_argv[] = {(char *)bin,
                        "serve",
                        "--coordinator",
                        "ws://127.0.0.1:9",
                        "--token",
                        "gnt_x",
                        "--model",
                        sd,
                        "--seccomp",
                        "false",
                        NULL};
  ASSERT_EQ_INT(run_bin(serve_argv, out, sizeof out), 1);
  ASSERT_TRUE(strstr(out, "unfinished or failed download") != NULL);
  /* and REPO as --model resolves through the cache (same refusal) */
  char *serve2[] = {(char *)bin,
                    "serve",
                    "--coordinator",
                    "ws://127.0.0.1:9",
                    "--token",
                    "gnt_x",
                    "--model",
                    REPO,
                    "--models-dir",
                    S.dir,
                    NULL};
  ASSERT_EQ_INT(run_bin(serve2, out, sizeof out), 1);
  ASSERT_TRUE(strstr(out, "unfinished or failed download") != NULL);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_hf_names),
                                    TEST(test_pull_full),
                                    TEST(test_pull_resume),
                                    TEST(test_pull_bad_checksum),
                                    TEST(test_pull_size_mismatch),
                                    TEST(test_pull_not_found),
                                    TEST(test_pull_concurrent),
                                    TEST(test_cli),
                                    {0}};
  int rc = test_main(argc, argv, tests);
  stop_server();
  return rc;
}
