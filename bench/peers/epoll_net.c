/* Plain C epoll peer of corio's TCP benchmark (bench/net_compare.cpp): what a hand-written readiness
 * loop gets, as a practical limit for a runtime built on one.
 *
 * Client and server live in one process, on one thread, in one epoll instance, over 127.0.0.1 TCP with
 * TCP_NODELAY on both ends. Every socket is non-blocking and registered level-triggered once (no
 * epoll_ctl on the hot path); each connection is a small state machine with its own 64-byte buffer (no
 * allocation on the hot path); epoll_wait takes up to 256 events at a time. Prints one line per workload:
 *   <workload> <value> ns
 *
 *   echo_1conn    one connection, 64-byte ping-pong; ns per round trip
 *   echo_50conn   50 connections doing the same concurrently; wall time / total round trips
 *   echo_100conn  the same with 100 connections
 *   accept        connect, accept + close, the client sees EOF and closes; 64 connections in flight;
 *                 ns per connection
 *
 * Build: gcc -O2 -o build/bench-peers/epoll_net bench/peers/epoll_net.c
 * Usage: epoll_net [--quick] [--only NAME]      (--quick divides the counts by 10)
 * Diagnostics go to stderr. A watchdog alarm ends the process if a workload hangs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define MAX_EVENTS 256
#define ACCEPT_INFLIGHT 64
#define WARMUP_ROUNDS 10

static void die(const char *what) {
  fprintf(stderr, "epoll_net: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "epoll_net: watchdog: workload did not finish in time\n";
  ssize_t r = write(2, msg, sizeof msg - 1);
  (void)r;
  _exit(1);
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void set_int_opt(int fd, int level, int opt, int v, const char *what) {
  if (setsockopt(fd, level, opt, &v, sizeof v) < 0) die(what);
}

static void set_linger0(int fd) {  /* close sends RST: no TIME_WAIT left behind */
  struct linger lg = {1, 0};
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0) die("setsockopt(SO_LINGER)");
}

/* A listener on 127.0.0.1, fresh ephemeral port, non-blocking; *addr receives its address. Accepted
 * sockets inherit TCP_NODELAY (and O_NONBLOCK is asked for by accept4). */
static int make_listener(struct sockaddr_in *addr, int nodelay) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l < 0) die("socket");
  set_int_opt(l, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)");
  if (nodelay) set_int_opt(l, IPPROTO_TCP, TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)");
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr->sin_port = 0;
  if (bind(l, (struct sockaddr *)addr, sizeof *addr) < 0) die("bind");
  if (listen(l, 4096) < 0) die("listen");
  socklen_t len = sizeof *addr;
  if (getsockname(l, (struct sockaddr *)addr, &len) < 0) die("getsockname");
  return l;
}

/* ---- echo ------------------------------------------------------------------------------------------ */

enum { READING, WRITING };

struct conn {
  int fd;
  int is_client;
  int state;       /* READING: waiting for the rest of a message; WRITING: a write is pending (EPOLLOUT) */
  int have;        /* bytes of the current message read (READING) or written (WRITING) */
  long remaining;  /* client: round trips still to do */
  char buf[MSG];
};

struct echo_run {
  int ep;
  long clients_active;  /* clients with round trips left */
};

static void watch(int ep, struct conn *c, unsigned events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl(MOD)");
}

/* Sends c->buf from c->have on; on a short write, waits for EPOLLOUT. Returns 1 when all is sent. */
static int send_rest(struct echo_run *r, struct conn *c) {
  while (c->have < MSG) {
    ssize_t n = write(c->fd, c->buf + c->have, MSG - c->have);
    if (n > 0) {
      c->have += (int)n;
    } else if (n < 0 && errno == EAGAIN) {
      if (c->state != WRITING) {
        c->state = WRITING;
        watch(r->ep, c, EPOLLOUT);
      }
      return 0;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      die("write");
    }
  }
  if (c->state == WRITING) watch(r->ep, c, EPOLLIN);
  c->state = READING;
  c->have = 0;
  return 1;
}

/* A whole message arrived on c. */
static void message_in(struct echo_run *r, struct conn *c) {
  c->have = 0;
  if (c->is_client) {
    if (--c->remaining == 0) {
      --r->clients_active;
      return;  /* stays idle until the next phase writes again */
    }
  }
  send_rest(r, c);  /* server: echo back; client: the next ping */
}

static void on_event(struct echo_run *r, struct conn *c, unsigned events) {
  if (c->state == WRITING) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) send_rest(r, c);
    return;
  }
  ssize_t n = read(c->fd, c->buf + c->have, MSG - c->have);
  if (n > 0) {
    c->have += (int)n;
    if (c->have == MSG) message_in(r, c);
  } else if (n == 0) {
    fprintf(stderr, "epoll_net: unexpected EOF on fd %d\n", c->fd);
    exit(1);
  } else if (errno != EAGAIN && errno != EINTR) {
    die("read");
  }
}

/* Starts `rounds` round trips on every client and runs the loop until they are done. */
static void echo_phase(struct echo_run *r, struct conn *clients, int nconn, long rounds) {
  struct epoll_event events[MAX_EVENTS];
  r->clients_active = nconn;
  for (int i = 0; i < nconn; ++i) {
    clients[i].remaining = rounds;
    clients[i].have = 0;
    send_rest(r, &clients[i]);
  }
  while (r->clients_active > 0) {
    int k = epoll_wait(r->ep, events, MAX_EVENTS, -1);
    if (k < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < k; ++i) on_event(r, events[i].data.ptr, events[i].events);
  }
}

static double echo(int nconn, long total) {
  struct sockaddr_in addr;
  int l = make_listener(&addr, 1);
  struct conn *conns = calloc((size_t)nconn * 2, sizeof *conns);
  if (!conns) die("calloc");
  struct conn *clients = conns, *servers = conns + nconn;
  struct echo_run r = {.ep = epoll_create1(EPOLL_CLOEXEC)};
  if (r.ep < 0) die("epoll_create1");

  /* Setup (not timed): connect every client (a loopback connect completes into the listen backlog), then
   * accept them all. */
  for (int i = 0; i < nconn; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) die("fcntl(O_NONBLOCK)");
    clients[i] = (struct conn){.fd = fd, .is_client = 1, .state = READING};
  }
  for (int i = 0; i < nconn; ++i) {
    int fd;
    do fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && (errno == EAGAIN || errno == EINTR));
    if (fd < 0) die("accept4");
    servers[i] = (struct conn){.fd = fd, .is_client = 0, .state = READING};
  }
  for (int i = 0; i < 2 * nconn; ++i) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
    if (epoll_ctl(r.ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0) die("epoll_ctl(ADD)");
  }

  echo_phase(&r, clients, nconn, WARMUP_ROUNDS);
  long each = total / nconn;
  double t0 = now_ns();
  echo_phase(&r, clients, nconn, each);
  double t1 = now_ns();

  for (int i = 0; i < nconn; ++i) set_linger0(clients[i].fd);
  for (int i = 0; i < 2 * nconn; ++i) close(conns[i].fd);
  close(r.ep);
  close(l);
  free(conns);
  return (t1 - t0) / (double)(each * nconn);
}

/* ---- accept ---------------------------------------------------------------------------------------- */

/* Each of ACCEPT_INFLIGHT client slots: connect; the server accepts and closes; the client sees the EOF
 * and closes with an RST (SO_LINGER {1, 0}: no TIME_WAIT on either end, since the server's socket is
 * then in FIN_WAIT2); the slot starts the next connect. Waiting for the EOF keeps at most
 * ACCEPT_INFLIGHT connections in the listen queue; a client that closed at once would run ahead of the
 * accepts, overflow the queue, and lose connections whose handshake the server never finished.
 *
 * Client sockets are registered once, edge-triggered, for EPOLLOUT (connected) and EPOLLRDHUP (the
 * server's FIN), so the EOF needs no read(): often both arrive in the same event. */

/* epoll data for the listener; client slots use their index 0..ACCEPT_INFLIGHT-1. */
#define LISTENER_TAG 0xFFFFFFFFu

struct accept_run {
  int ep;
  struct sockaddr_in addr;
  long started, total, accepted, clients_open;
  int slot_fd[ACCEPT_INFLIGHT];
};

/* Starts the next connect in slot s, or leaves it empty when all are started. */
static void start_connect(struct accept_run *r, unsigned s) {
  r->slot_fd[s] = -1;
  if (r->started == r->total) return;
  ++r->started;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)&r->addr, sizeof r->addr) < 0 && errno != EINPROGRESS) die("connect");
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u32 = s};
  if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl(ADD)");
  r->slot_fd[s] = fd;
  ++r->clients_open;
}

static void client_event(struct accept_run *r, unsigned s, unsigned events) {
  int fd = r->slot_fd[s];
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    errno = err;
    die("connect (async)");
  }
  if (!(events & (EPOLLRDHUP | EPOLLHUP))) return;  /* connected; the server's close is still to come */
  set_linger0(fd);
  close(fd);  /* also leaves the epoll set */
  --r->clients_open;
  start_connect(r, s);
}

static void accept_ready(struct accept_run *r, int l) {
  for (;;) {
    int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      if (errno == ECONNABORTED) continue;
      die("accept4");
    }
    close(fd);
    ++r->accepted;
  }
}

static double accept_rate(long total) {
  struct accept_run r = {.total = total};
  int l = make_listener(&r.addr, 0);
  r.ep = epoll_create1(EPOLL_CLOEXEC);
  if (r.ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = LISTENER_TAG};
  if (epoll_ctl(r.ep, EPOLL_CTL_ADD, l, &ev) < 0) die("epoll_ctl(ADD)");

  struct epoll_event events[MAX_EVENTS];
  double t0 = now_ns();
  for (unsigned s = 0; s < ACCEPT_INFLIGHT; ++s) start_connect(&r, s);
  while (r.clients_open > 0) {  /* a client finishes only after the server accepted and closed it */
    int k = epoll_wait(r.ep, events, MAX_EVENTS, -1);
    if (k < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < k; ++i) {
      unsigned tag = events[i].data.u32;
      if (tag == LISTENER_TAG)
        accept_ready(&r, l);
      else
        client_event(&r, tag, events[i].events);
    }
  }
  double t1 = now_ns();
  if (r.accepted != total) {
    fprintf(stderr, "epoll_net: accepted %ld of %ld connections\n", r.accepted, total);
    exit(1);
  }
  close(r.ep);
  close(l);
  return (t1 - t0) / (double)total;
}

/* ---- driver ---------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  int quick = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = 1;
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--quick] [--only echo_1conn|echo_50conn|echo_100conn|accept]\n", argv[0]);
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  long scale = quick ? 10 : 1;
  int matched = 0;
  static const struct {
    const char *name;
    int conns;  /* 0: the accept workload */
    long count;
  } workloads[] = {
      {"echo_1conn", 1, 50000},
      {"echo_50conn", 50, 200000},
      {"echo_100conn", 100, 200000},
      {"accept", 0, 20000},
  };
  for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; ++i) {
    if (only && strcmp(only, workloads[i].name) != 0) continue;
    matched = 1;
    alarm(120);
    long n = workloads[i].count / scale;
    double v = workloads[i].conns ? echo(workloads[i].conns, n) : accept_rate(n);
    alarm(0);
    printf("%s %.1f ns\n", workloads[i].name, v);
    fflush(stdout);
  }
  if (!matched) {
    fprintf(stderr, "epoll_net: unknown workload %s\n", only);
    return 2;
  }
  return 0;
}
