/*
 * Switchyard's drop-in for netavark (docs/frontends/netavark.md), compiled: Podman runs it with
 * CONTAINERS_HELPER_BINARY_DIR=<checkout>/libexec, once per container setup and teardown, so
 * its start-up is on every container's path. It speaks netavark 1.4's command line:
 *   netavark [-f|--file FILE] [-c|--config DIR] [-r|--rootless BOOL] [-a|--aardvark-binary PATH]
 *            setup|teardown NETNS_PATH | update NETWORK --network-dns-servers IP… | version | --version
 * and forwards setup/teardown/update to the running daemon (POST /netavark/…, where the work is
 * done: src/frontends/netavark/), printing its answer: the StatusBlock map on stdout, or
 * {"error": "…"} and exit 1. The daemon's socket: $SWITCHYARD_NETAVARK_SOCKET, else the default.
 * libexec/netavark.sh says the same in sh + curl (the fallback without a C compiler; the
 * differential test runs whichever libexec/build.mjs installed). libc only; the HTTP part is
 * native/forward-http.h, shared with bin/cni/forward.c:
 *   cc -O2 -I native -o libexec/netavark libexec/netavark.c      (libexec/build.mjs does it)
 */
#define FWD_PROG "netavark"
#include "forward-http.h" /* native/: the buffer, request framing, send and answer parsing */
#include <fcntl.h>
#include <signal.h>

#define VERSION "1.4.0"
#define TIMEOUT_S 120

/* {"error": MSG} on stdout, exit 1: netavark's error shape, which Podman decodes. */
static void fail(const char *msg) {
  struct buf b = {0};
  char tmp[8];
  puts_(&b, "{\"error\":\"");
  for (const unsigned char *s = (const unsigned char *)msg; *s; s++) {
    if (*s == '"' || *s == '\\') { tmp[0] = '\\'; tmp[1] = (char)*s; put(&b, tmp, 2); }
    else if (*s < 0x20) put(&b, " ", 1);
    else put(&b, (const char *)s, 1);
  }
  puts_(&b, "\"}\n");
  fwrite(b.p, 1, b.n, stdout);
  exit(1);
}

static char msg[8192];

static void unreachable(const char *sock, int e) {
  snprintf(msg, sizeof msg, "the Switchyard daemon is not reachable at %s (%s)", sock, strerror(e));
  fail(msg);
}

/* An option with a value: "-x V", "--xx V" or "--xx=V"; returns the value or NULL if not this option. */
static const char *opt_value(int argc, char **argv, int *i, const char *s, const char *l) {
  const char *a = argv[*i];
  size_t ll = strlen(l);
  if (!strncmp(a, l, ll) && a[ll] == '=') return a + ll + 1;
  if (strcmp(a, l) && (!s || strcmp(a, s))) return NULL;
  if (*i + 1 >= argc) { snprintf(msg, sizeof msg, "option %s needs a value", a); fail(msg); }
  return argv[++*i];
}

int main(int argc, char **argv) {
  const char *file = "-", *cmd = NULL, *target = NULL;
  static const char *ignored[][2] = {
    {"-c", "--config"}, {"-r", "--rootless"}, {"-a", "--aardvark-binary"},
    {NULL, "--plugin-directory"}, {NULL, "--firewall-driver"},
  };
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    if ((v = opt_value(argc, argv, &i, "-f", "--file"))) { file = v; continue; }
    int skip = 0;
    for (size_t k = 0; k < sizeof ignored / sizeof ignored[0] && !skip; k++) skip = opt_value(argc, argv, &i, ignored[k][0], ignored[k][1]) != NULL;
    if (skip) continue;
    if (!strcmp(a, "-V") || !strcmp(a, "--version")) { puts("netavark " VERSION); return 0; }
    if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "help")) {
      puts("usage: netavark [--file FILE] [--config DIR] [--rootless BOOL] [--aardvark-binary PATH] setup|teardown NETNS | update NETWORK --network-dns-servers IP | version");
      return 0;
    }
    if (!strcmp(a, "version")) {
      printf("{\n  \"version\": \"%s\",\n  \"commit\": \"switchyard\",\n  \"build_time\": \"\",\n  \"target\": \"switchyard\"\n}\n", VERSION);
      return 0;
    }
    if (!strcmp(a, "setup") || !strcmp(a, "teardown")) {
      if (i + 1 >= argc) { snprintf(msg, sizeof msg, "%s: the network namespace path is required", a); fail(msg); }
      cmd = a;
      target = argv[++i];
      continue;
    }
    if (!strcmp(a, "update")) {
      if (i + 1 >= argc) fail("update: the network name is required");
      cmd = a;
      target = argv[i + 1];
      file = "/dev/null";
      break;
    }
    snprintf(msg, sizeof msg, "unknown argument %s", a);
    fail(msg);
  }
  if (!cmd) fail("a subcommand is required: setup, teardown, update or version");
  static char abs_target[8192];
  if (strcmp(cmd, "update") && target[0] && target[0] != '/') {
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) fail("cannot resolve the network namespace path");
    snprintf(abs_target, sizeof abs_target, "%s/%s", cwd, target);
    target = abs_target;
  }
  for (const char *s = target; *s; s++) if (*s == '\r' || *s == '\n') fail("the network namespace path must not contain a line break");
  signal(SIGPIPE, SIG_IGN);

  struct buf in = {0};
  int fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : 0;
  if (fd < 0 || read_all(fd, &in) < 0) { snprintf(msg, sizeof msg, "cannot read the network options from %s", file); fail(msg); }
  if (fd > 0) close(fd);

  const char *sock = getenv("SWITCHYARD_NETAVARK_SOCKET");
  if (!sock || !*sock) sock = FWD_DEFAULT_SOCKET;
  struct buf req = {0}, path = {0};
  puts_(&path, "/netavark/");
  puts_(&path, cmd);
  fwd_request_start(&req, path.p, "switchyard-netavark");
  puts_(&req, "Netavark-Netns: ");
  puts_(&req, target);
  puts_(&req, "\r\n");
  fwd_request_end(&req, &in);

  int s = fwd_send(sock, &req, TIMEOUT_S);
  if (s < 0) unreachable(sock, errno);
  /* Half-close after the request: the daemon answers half-closed clients (httpAllowHalfOpen,
     src/api/server.ts). Before it did, node:http ended the socket at the FIN and a teardown
     answer that was not ready yet was lost: Podman finished `rm` while the daemon was still
     removing the network (the CI failure of e2e/netavark-podman). */
  shutdown(s, SHUT_WR);
  struct buf res = {0};
  if (read_all(s, &res) < 0) unreachable(sock, errno);
  close(s);

  struct fwd_answer ans;
  if (!fwd_parse(&res, NULL, &ans)) {
    snprintf(msg, sizeof msg, "the Switchyard daemon at %s closed the connection before answering", sock);
    fail(msg);
  }
  if (ans.status >= 200 && ans.status < 300) {
    fwrite(ans.body, 1, ans.blen, stdout);
    return 0;
  }
  /* The daemon's refusal is {"error": "…"} already (routes-netavark.ts); anything else is wrapped. */
  if (ans.blen && ans.body[0] == '{' && strstr(ans.body, "\"error\"")) {
    fwrite(ans.body, 1, ans.blen, stdout);
    fputc('\n', stdout);
    return 1;
  }
  snprintf(msg, sizeof msg, "the Switchyard daemon answered POST /netavark/%s with HTTP %d: %.4000s", cmd, ans.status, ans.body);
  fail(msg);
  return 1;
}
