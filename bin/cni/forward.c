/*
 * The Switchyard CNI plugin as runtimes exec it (docs/frontends/cni.md, "The plugin process"):
 * a forwarder. The CNI protocol (dispatch, version rules, results, errors with the spec's codes)
 * runs in the daemon behind POST /cni (src/api/routes-cni.ts); this process only
 *   - answers VERSION and the no-CNI_COMMAND "about" line itself (static, no daemon needed),
 *   - finds the daemon's socket (the config's top-level "host", else SWITCHYARD_CNI_SOCKET,
 *     else /run/switchyard/switchyard.sock),
 *   - sends the CNI_* variables as Cni-* headers (percent-encoded) and stdin as the body,
 *   - prints the daemon's answer and exits with its Cni-Exit-Code,
 *   - and turns "the daemon is unreachable" into the spec's error 11 itself (6 when stdin is
 *     not even a JSON object).
 * It reads no JSON beyond two top-level strings ("host", "cniVersion"). libc only; the HTTP part
 * is native/forward-http.h, shared with libexec/netavark.c:
 *   cc -O2 -I native -o bin/cni/switchyard bin/cni/forward.c     (bin/cni/build-forwarder.mjs does it)
 */
#define FWD_PROG "switchyard"
#include "forward-http.h" /* native/: the buffer, request framing, send and answer parsing */
#include <signal.h>

#define LATEST_VERSION "1.1.0"
#define TIMEOUT_S 60
/* Kept equal to src/frontends/cni/main.ts ABOUT and versions.ts (test/integration/cni-shim.test.ts compares). */
static const char ABOUT[] = "CNI plugin switchyard: attaches CNI_NETNS to a Switchyard network through the daemon (docs/frontends/cni.md)\n";
static const char VERSION_ANSWER[] = "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n";

/* ---- two top-level string values of a JSON object, nothing more ---- */

static const char *ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}
/* p at '"': returns the position after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *e) {
  for (p++; p < e; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return NULL;
}
static const char *skip_value(const char *p, const char *e) {
  if (p >= e) return NULL;
  if (*p == '"') return skip_string(p, e);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (p < e) {
      if (*p == '"') { p = skip_string(p, e); if (!p) return NULL; continue; }
      if (*p == '{' || *p == '[') depth++;
      else if (*p == '}' || *p == ']') { if (--depth == 0) return p + 1; }
      p++;
    }
    return NULL;
  }
  while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
  return p;
}
/* Copies the top-level string `key` of the object in s[0..n) into out (no escapes allowed).
   Returns 1 when found, 0 when not, -1 when s does not scan as a JSON object. */
static int top_string(const char *s, size_t n, const char *key, char *out, size_t outlen) {
  const char *p = ws(s, s + n), *e = s + n;
  int found = 0;
  if (p >= e || *p != '{') return -1;
  p = ws(p + 1, e);
  if (p < e && *p == '}') return ws(p + 1, e) == e ? 0 : -1;
  size_t klen = strlen(key);
  while (p < e && *p == '"') {
    const char *k = p + 1, *ke = skip_string(p, e);
    if (!ke) return -1;
    p = ws(ke, e);
    if (p >= e || *p != ':') return -1;
    p = ws(p + 1, e);
    if (!found && (size_t)(ke - 1 - k) == klen && !memcmp(k, key, klen) && p < e && *p == '"') {
      const char *v = p + 1, *ve = skip_string(p, e);
      if (!ve) return -1;
      size_t vlen = (size_t)(ve - 1 - v);
      if (vlen < outlen && !memchr(v, '\\', vlen)) {
        memcpy(out, v, vlen);
        out[vlen] = 0;
        found = 1;
      }
    }
    p = skip_value(p, e);
    if (!p || p == e) return -1;
    p = ws(p, e);
    if (p < e && *p == ',') { p = ws(p + 1, e); continue; }
    if (p < e && *p == '}') return ws(p + 1, e) == e ? found : -1;
    return -1;
  }
  return -1;
}

/* ---- output ---- */

static void json_escaped(struct buf *b, const char *s) {
  char tmp[8];
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { tmp[0] = '\\'; tmp[1] = (char)c; put(b, tmp, 2); }
    else if (c < 0x20) { snprintf(tmp, sizeof tmp, "\\u%04x", c); puts_(b, tmp); }
    else put(b, (const char *)&c, 1);
  }
}

static const char *cni_version = LATEST_VERSION;
/* stdin does not scan as a JSON object: with no daemon to say so, the plugin says it (error 6). */
static int undecodable;

/* An error object as src/frontends/cni/cni-error.ts errorBody writes it; exits 1. */
static void fail(int code, const char *msg, const char *details) {
  struct buf b = {0};
  puts_(&b, "{\"cniVersion\":\"");
  json_escaped(&b, cni_version);
  char num[16];
  snprintf(num, sizeof num, "%d", code);
  puts_(&b, "\",\"code\":");
  puts_(&b, num);
  puts_(&b, ",\"msg\":\"");
  json_escaped(&b, msg);
  puts_(&b, "\"");
  if (details && *details) { puts_(&b, ",\"details\":\""); json_escaped(&b, details); puts_(&b, "\""); }
  puts_(&b, "}\n");
  fwrite(b.p, 1, b.n, stdout);
  exit(1);
}

static const char *errno_name(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EACCES: return "EACCES";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ENOTDIR: return "ENOTDIR";
    case ENOTSOCK: return "ENOTSOCK";
    case EAGAIN: return "ETIMEDOUT";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    default: return strerror(e);
  }
}

/* What the Node plugin says for an unreachable daemon (daemon-backend.ts, dispatch.ts toCniError). */
static const char *command, *network = "";

static void unreachable(const char *sock, int e) {
  if (undecodable) fail(6, "failed to decode the network configuration", "expected a JSON object");
  char msg[1024];
  if (!strcmp(command, "STATUS")) {
    /* STATUS says "not available" (50) for any failure, as dispatch.ts toCniError does. */
    snprintf(msg, sizeof msg, "switchyard network \"%s\" is not available: cannot reach the switchyard daemon at %s: %s", network, sock, errno_name(e));
    fail(50, msg, "DAEMON_UNREACHABLE");
  }
  snprintf(msg, sizeof msg, "switchyard is not available, try again later: cannot reach the switchyard daemon at %s: %s", sock, errno_name(e));
  fail(11, msg, "DAEMON_UNREACHABLE");
}

/* Header values travel percent-encoded (anything outside printable ASCII, and '%'). */
static void header(struct buf *b, const char *name, const char *var) {
  const char *v = getenv(var);
  if (!v || !*v) return;
  puts_(b, name);
  puts_(b, ": ");
  char tmp[4];
  for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
    if (*s <= 0x20 || *s >= 0x7f || *s == '%') { snprintf(tmp, sizeof tmp, "%%%02X", *s); put(b, tmp, 3); }
    else put(b, (const char *)s, 1);
  }
  puts_(b, "\r\n");
}

int main(void) {
  command = getenv("CNI_COMMAND");
  if (!command || !*command) { fputs(ABOUT, stderr); return 0; }
  if (!strcmp(command, "VERSION")) { fputs(VERSION_ANSWER, stdout); return 0; }
  signal(SIGPIPE, SIG_IGN);

  struct buf in = {0};
  read_all(0, &in); /* a read error counts as EOF, and no stdin at all too: the daemon answers "cannot decode" */

  static char version[64], net[256], host[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
  int v = top_string(in.p, in.n, "cniVersion", version, sizeof version);
  if (v > 0) cni_version = version;
  undecodable = v < 0;
  if (top_string(in.p, in.n, "network", net, sizeof net) > 0) network = net;
  const char *sock = getenv("SWITCHYARD_CNI_SOCKET");
  if (!sock || !*sock) sock = FWD_DEFAULT_SOCKET;
  if (top_string(in.p, in.n, "host", host, sizeof host) > 0) {
    /* "unix:///x.sock" or "/x.sock"; anything else goes to the default socket, whose daemon
       refuses it as the Node plugin does (error 7). */
    const char *path = strncmp(host, "unix://", 7) ? host : host + 7;
    if (path[0] == '/') sock = path;
  }

  struct buf req = {0};
  fwd_request_start(&req, "/cni", "switchyard-cni");
  header(&req, "Cni-Command", "CNI_COMMAND");
  header(&req, "Cni-Containerid", "CNI_CONTAINERID");
  header(&req, "Cni-Netns", "CNI_NETNS");
  header(&req, "Cni-Ifname", "CNI_IFNAME");
  header(&req, "Cni-Args", "CNI_ARGS");
  header(&req, "Cni-Path", "CNI_PATH");
  fwd_request_end(&req, &in);

  int fd = fwd_send(sock, &req, TIMEOUT_S);
  if (fd < 0) unreachable(sock, errno);
  /* No shutdown(SHUT_WR): `Connection: close` makes the daemon close after its answer. (A
   * half-close would be answered too since the daemon sets httpAllowHalfOpen, src/api/server.ts;
   * before that, node:http ended a half-closed socket at once and an answer that waited on
   * etcd was lost.) */

  struct buf res = {0};
  if (read_all(fd, &res) < 0) unreachable(sock, errno);
  close(fd);

  struct fwd_answer ans;
  if (!fwd_parse(&res, "Cni-Exit-Code:", &ans)) {
    if (!strcmp(command, "STATUS")) fail(50, "switchyard is not available: the daemon closed the connection before answering", "DAEMON_CONNECTION_FAILED");
    fail(11, "switchyard is not available, try again later: the daemon closed the connection before answering", "DAEMON_CONNECTION_FAILED");
  }
  if (ans.header_int >= 0) {
    fwrite(ans.body, 1, ans.blen, stdout);
    return ans.header_int;
  }
  /* Not an answer of the CNI route: the daemon refused the request itself ({"message"}). */
  char msg[160];
  snprintf(msg, sizeof msg, "switchyard: the daemon answered POST /cni with HTTP %d", ans.status);
  fail(!strcmp(command, "STATUS") ? 50 : ans.status == 503 ? 11 : 999, msg, ans.body);
  return 1;
}
