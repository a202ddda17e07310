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
 * differential test runs whichever libexec/build.mjs installed). One file, libc only:
 *   cc -O2 -o libexec/netavark libexec/netavark.c      (libexec/build.mjs does it)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/switchyard/switchyard.sock"
#define VERSION "1.4.0"
#define TIMEOUT_S 120

struct buf { char *p; size_t n, cap; };

static void put(struct buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (b->n + n + 1 > cap) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { perror("netavark"); exit(1); }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

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

static int read_all(int fd, struct buf *b) {
  char chunk[65536];
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r > 0) { put(b, chunk, (size_t)r); continue; }
    if (r < 0 && errno == EINTR) continue;
    if (!b->p) put(b, "", 0);
    return r < 0 ? -1 : 0;
  }
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
  if (!sock || !*sock) sock = DEFAULT_SOCKET;
  struct buf req = {0};
  char len[32];
  snprintf(len, sizeof len, "%zu", in.n);
  puts_(&req, "POST /netavark/");
  puts_(&req, cmd);
  puts_(&req, " HTTP/1.1\r\nHost: switchyard\r\nUser-Agent: switchyard-netavark\r\nConnection: close\r\nContent-Type: application/json\r\nNetavark-Netns: ");
  puts_(&req, target);
  puts_(&req, "\r\nContent-Length: ");
  puts_(&req, len);
  puts_(&req, "\r\n\r\n");
  put(&req, in.p, in.n);

  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(sock) >= sizeof addr.sun_path) unreachable(sock, ENAMETOOLONG);
  strcpy(addr.sun_path, sock);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) unreachable(sock, errno);
  struct timeval tv = { .tv_sec = TIMEOUT_S };
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) unreachable(sock, errno);
  for (size_t off = 0; off < req.n;) {
    ssize_t w = send(s, req.p + off, req.n - off, MSG_NOSIGNAL);
    if (w < 0) { if (errno == EINTR) continue; unreachable(sock, errno); }
    off += (size_t)w;
  }
  /* Half-close after the request. (The CNI forwarder does not, since node:http dropped its
     answers that waited on etcd; netavark maps only local networks, and without the half-close
     Podman's teardown of its last container left the network behind: e2e/netavark-podman.) */
  shutdown(s, SHUT_WR);
  struct buf res = {0};
  if (read_all(s, &res) < 0) unreachable(sock, errno);
  close(s);

  char *end = strstr(res.p, "\r\n\r\n");
  if (!end || strncmp(res.p, "HTTP/1.", 7)) {
    snprintf(msg, sizeof msg, "the Switchyard daemon at %s closed the connection before answering", sock);
    fail(msg);
  }
  int status = atoi(res.p + 9);
  *end = 0;
  char *body = end + 4;
  size_t blen = res.n - (size_t)(body - res.p);
  for (char *line = strstr(res.p, "\r\n"); line; line = strstr(line, "\r\n")) {
    line += 2;
    if (!strncasecmp(line, "Content-Length:", 15)) {
      size_t cl = strtoul(line + 15, NULL, 10);
      if (cl < blen) blen = cl;
    }
  }
  if (status >= 200 && status < 300) {
    fwrite(body, 1, blen, stdout);
    return 0;
  }
  /* The daemon's refusal is {"error": "…"} already (routes-netavark.ts); anything else is wrapped. */
  body[blen] = 0;
  if (blen && body[0] == '{' && strstr(body, "\"error\"")) {
    fwrite(body, 1, blen, stdout);
    fputc('\n', stdout);
    return 1;
  }
  snprintf(msg, sizeof msg, "the Switchyard daemon answered POST /netavark/%s with HTTP %d: %.4000s", cmd, status, body);
  fail(msg);
  return 1;
}
