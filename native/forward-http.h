/*
 * The HTTP half of Switchyard's exec'd forwarders, bin/cni/forward.c (the CNI plugin) and
 * libexec/netavark.c (the netavark drop-in): both send one request over the daemon's unix
 * socket and print what it answers. This header holds what they share: a growing buffer,
 * reading a descriptor to its end, framing the request (fixed head, the caller's own headers,
 * Content-Length, body), connecting and sending with a timeout, and splitting the answer into
 * status, body and the one header each reads besides Content-Length. What each says on a
 * failure (CNI error objects, netavark's {"error"}) and whether it half-closes after the request
 * stay in the .c files. Header-only, libc only; the includer defines FWD_PROG (the name perror
 * prints) first. Built with -I native by bin/cni/build-forwarder.mjs and libexec/build.mjs.
 */
#ifndef SWITCHYARD_FORWARD_HTTP_H
#define SWITCHYARD_FORWARD_HTTP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef FWD_PROG
#error "define FWD_PROG (the program's name for perror) before including forward-http.h"
#endif

#define FWD_DEFAULT_SOCKET "/run/switchyard/switchyard.sock"

struct buf { char *p; size_t n, cap; };

/* Appends s[0..n) and keeps the buffer NUL-terminated; out of memory exits 1. */
static void put(struct buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (b->n + n + 1 > cap) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { perror(FWD_PROG); exit(1); }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* Reads fd to its end into b (b->p is never NULL afterwards). Returns 0 at EOF, -1 on a read
   error (errno says which; what was read stays in b). */
static int read_all(int fd, struct buf *b) {
  char chunk[65536];
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r > 0) { put(b, chunk, (size_t)r); continue; }
    if (r < 0 && errno == EINTR) continue;
    int e = errno;
    if (!b->p) put(b, "", 0);
    errno = e;
    return r < 0 ? -1 : 0;
  }
}

/* The request's head up to the caller's own headers: POST PATH with the fields both send. */
static void fwd_request_start(struct buf *req, const char *path, const char *user_agent) {
  puts_(req, "POST ");
  puts_(req, path);
  puts_(req, " HTTP/1.1\r\nHost: switchyard\r\nUser-Agent: ");
  puts_(req, user_agent);
  puts_(req, "\r\nConnection: close\r\nContent-Type: application/json\r\n");
}

/* After the caller's headers: Content-Length, the blank line and the body. */
static void fwd_request_end(struct buf *req, const struct buf *body) {
  char len[32];
  snprintf(len, sizeof len, "%zu", body->n);
  puts_(req, "Content-Length: ");
  puts_(req, len);
  puts_(req, "\r\n\r\n");
  put(req, body->p, body->n);
}

/* Connects to the unix socket at sock (send and receive time out after timeout_s) and sends
   the whole of req. Returns the socket, or -1 with errno set (ENAMETOOLONG for a path that
   does not fit sun_path). `Connection: close` makes the daemon close after its answer; a
   half-close after the request is the caller's choice. */
static int fwd_send(const char *sock, const struct buf *req, int timeout_s) {
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(sock) >= sizeof addr.sun_path) { errno = ENAMETOOLONG; return -1; }
  strcpy(addr.sun_path, sock);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct timeval tv = { .tv_sec = timeout_s };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) goto failed;
  for (size_t off = 0; off < req->n;) {
    ssize_t w = send(fd, req->p + off, req->n - off, MSG_NOSIGNAL);
    if (w < 0) { if (errno == EINTR) continue; goto failed; }
    off += (size_t)w;
  }
  return fd;
failed: {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
}

struct fwd_answer {
  int status;      /* the status line's code */
  char *body;      /* inside the answer's buffer, NUL-terminated at blen */
  size_t blen;     /* what arrived after the head, cut to Content-Length */
  int header_int;  /* the integer value of the header asked for, or -1 when absent */
};

/* Splits the answer in res (read to its end) in place. `header` ("Name:") names one more
   header whose integer value to return, or NULL. Returns 0 when res is not an HTTP answer
   (the daemon closed the connection before answering), 1 otherwise. */
static int fwd_parse(struct buf *res, const char *header, struct fwd_answer *a) {
  char *end = res->p ? strstr(res->p, "\r\n\r\n") : NULL;
  if (!end || strncmp(res->p, "HTTP/1.", 7)) return 0;
  a->status = atoi(res->p + 9);
  *end = 0;
  a->body = end + 4;
  a->blen = res->n - (size_t)(a->body - res->p);
  a->header_int = -1;
  size_t hlen = header ? strlen(header) : 0;
  for (char *line = strstr(res->p, "\r\n"); line; line = strstr(line, "\r\n")) {
    line += 2;
    if (!strncasecmp(line, "Content-Length:", 15)) {
      size_t cl = strtoul(line + 15, NULL, 10);
      if (cl < a->blen) a->blen = cl;
    } else if (header && !strncasecmp(line, header, hlen)) {
      a->header_int = atoi(line + hlen);
    }
  }
  a->body[a->blen] = 0;
  return 1;
}

#endif
