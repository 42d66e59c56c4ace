// Does an io_uring feature pay for corio's streams? A 64-byte ping-pong over one loopback TCP connection,
// client and server on one ring (DEFER_TASKRUN), in raw liburing, one mode per run:
//   0  a recv SQE per message (what corio does)
//   1  the same with IORING_RECVSEND_POLL_FIRST (skip the first, failing, attempt)
//   2  multishot recv into a provided buffer ring (one recv armed per socket for the whole run)
//   3  registered (fixed) descriptors
// Prints ns per round trip. Build: gcc -O2 -o build/bench-peers/uring_features bench/uring_features.c -luring
// Results and the decision drawn from them: bench/README.md.
#define _GNU_SOURCE
#include <liburing.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
enum { C_SEND = 1, C_RECV, S_SEND, S_RECV };
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(int argc, char** argv) {
    int mode = atoi(argv[1]); long n = 50000;
    int l = socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    bind(l, (void*)&a, sizeof a); listen(l, 8); socklen_t al = sizeof a; getsockname(l, (void*)&a, &al);
    int c = socket(AF_INET, SOCK_STREAM, 0); connect(c, (void*)&a, sizeof a); int s = accept(l, 0, 0);
    int one = 1; setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, 4); setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, 4);
    struct io_uring ring; struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    if (io_uring_queue_init_params(256, &ring, &p)) return 1;
    char cb[64] = {0}, sb[64], crb[64];
    struct io_uring_buf_ring* br = NULL; char* bufs = NULL; int nb = 64;
    if (mode == 2) {
        br = mmap(NULL, nb * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        io_uring_buf_ring_init(br);
        struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = nb, .bgid = 1};
        int ret = io_uring_register_buf_ring(&ring, &reg, 0); if (ret) { printf("bufring %d\n", ret); return 1; }
        bufs = malloc(nb * 256);
        for (int i = 0; i < nb; i++) io_uring_buf_ring_add(br, bufs + i * 256, 256, i, io_uring_buf_ring_mask(nb), i);
        io_uring_buf_ring_advance(br, nb);
    }
    struct io_uring_sqe* q;
    int fixed = mode == 3;
    if (fixed) { int fds[2] = {c, s}; if (io_uring_register_files(&ring, fds, 2)) return 2; c = 0; s = 1; }
#define RECV(fd, buf, tag) do { q = io_uring_get_sqe(&ring); if (mode == 2) { io_uring_prep_recv_multishot(q, fd, NULL, 0, 0); q->flags |= IOSQE_BUFFER_SELECT; q->buf_group = 1; } else { io_uring_prep_recv(q, fd, buf, 64, 0); if (mode == 1) q->ioprio |= IORING_RECVSEND_POLL_FIRST; if (fixed) q->flags |= IOSQE_FIXED_FILE; } io_uring_sqe_set_data64(q, tag); } while (0)
#define SEND(fd, buf, tag) do { q = io_uring_get_sqe(&ring); io_uring_prep_send(q, fd, buf, 64, 0); if (fixed) q->flags |= IOSQE_FIXED_FILE; io_uring_sqe_set_data64(q, tag); } while (0)
    RECV(s, sb, S_RECV);
    if (mode == 2) RECV(c, crb, C_RECV);
    SEND(c, cb, C_SEND);
    long rt = 0; double t0 = now(); long enters = 0;
    while (rt < n) {
        io_uring_submit_and_wait(&ring, 1); enters++;
        struct io_uring_cqe* cqe; unsigned head, cnt = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            cnt++;
            long tag = cqe->user_data;
            if (cqe->res < 0) { printf("err tag %ld %d\n", tag, cqe->res); return 1; }
            if (mode == 2 && (tag == S_RECV || tag == C_RECV)) {
                int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                io_uring_buf_ring_add(br, bufs + bid * 256, 256, bid, io_uring_buf_ring_mask(nb), 0); io_uring_buf_ring_advance(br, 1);
                if (!(cqe->flags & IORING_CQE_F_MORE)) { if (tag == S_RECV) RECV(s, sb, S_RECV); else RECV(c, crb, C_RECV); }
            }
            switch (tag) {
                case C_SEND: if (mode != 2) RECV(c, crb, C_RECV); break;
                case S_RECV: SEND(s, sb, S_SEND); break;
                case S_SEND: if (mode != 2) RECV(s, sb, S_RECV); break;
                case C_RECV: rt++; SEND(c, cb, C_SEND); break;
            }
        }
        io_uring_cq_advance(&ring, cnt);
    }
    double dt = now() - t0;
    printf("mode %d: %.1f ns/rt, %.2f enters/rt\n", mode, dt / n, (double)enters / n);
    return 0;
}
