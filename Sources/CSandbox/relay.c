/*
 * The egress relay of a `proxy` sandbox. The sandbox has its own network namespace
 * with only loopback; the supervisor's egress proxy listens on a unix socket that
 * is bind-mounted into the sandbox. Tools inside expect an HTTP proxy on TCP
 * (HTTPS_PROXY=http://127.0.0.1:3128), so init listens on 127.0.0.1:egress_port
 * (before the command runs, so nothing else can take the port) and forks this
 * relay, which connects every client to the unix socket and copies bytes both
 * ways. It understands nothing of HTTP: every policy decision is the proxy's.
 *
 * Like the rest of the clone/exec path it allocates nothing: fixed static arrays
 * (CS_RELAY_MAX_CONNECTIONS connections, two RELAY_BUF buffers each), one poll
 * loop, raw syscalls. It runs as the sandbox user with no capabilities,
 * no_new_privs and the sandbox's seccomp filter, ignores the signals init
 * forwards (it must outlive the command's graceful shutdown) and dies with init.
 */
#include "internal.h"
#include <string.h>
#include <signal.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define RELAY_BUF 16384
#define RELAY_SLOTS CS_RELAY_MAX_CONNECTIONS

/* One direction of a connection: bytes read from one side, not yet written to the other. */
struct relay_dir {
    size_t off, len;
    int eof;        /* the reading side reached EOF */
    int shut;       /* EOF passed on: shutdown(SHUT_WR) of the writing side */
    char buf[RELAY_BUF];
};

struct relay_conn {
    int client;     /* -1 = free slot */
    int upstream;
    struct relay_dir up;     /* client -> proxy */
    struct relay_dir down;   /* proxy -> client */
};

static struct relay_conn conns[RELAY_SLOTS];
static struct pollfd pfds[1 + 2 * RELAY_SLOTS];
static int pfd_slot[1 + 2 * RELAY_SLOTS];
static struct sockaddr_un proxy_addr;
static socklen_t proxy_addr_len;
/* Slots in use at most: RELAY_SLOTS, fewer when RLIMIT_NOFILE could not hold two fds each
 * (accept failing with EMFILE would otherwise spin the poll loop). */
static int max_slots = RELAY_SLOTS;

static const char unavailable[] =
    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 50\r\nConnection: close\r\n\r\n"
    "coven egress: the supervisor's proxy is not there\n";

static void set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void conn_close(struct relay_conn *c) {
    if (c->client >= 0) close(c->client);
    if (c->upstream >= 0) close(c->upstream);
    c->client = -1;
    c->upstream = -1;
}

/* Connects to the proxy's unix socket. Blocking, but bounded by SO_SNDTIMEO (which is
 * what a unix stream connect waits on when the listener's backlog is full). */
static int connect_proxy(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int r;
    do { r = connect(fd, (struct sockaddr *)&proxy_addr, proxy_addr_len); } while (r < 0 && errno == EINTR);
    if (r < 0) { close(fd); return -1; }
    set_nonblock(fd);
    return fd;
}

static void accept_clients(int listen_fd) {
    for (;;) {
        int slot = -1;
        for (int i = 0; i < max_slots; i++) if (conns[i].client < 0) { slot = i; break; }
        if (slot < 0) return;   /* full: the rest waits in the backlog */
        int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) return;      /* EAGAIN, or a transient error: poll again */
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int u = connect_proxy();
        if (u < 0) {
            send(c, unavailable, sizeof unavailable - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            close(c);
            continue;
        }
        struct relay_conn *k = &conns[slot];
        k->client = c;
        k->upstream = u;
        k->up.off = k->up.len = 0; k->up.eof = k->up.shut = 0;
        k->down.off = k->down.len = 0; k->down.eof = k->down.shut = 0;
    }
}

/* Reads once into an empty direction buffer. 0 = fine (data, EOF or nothing yet), -1 = error. */
static int pump_read(int from, struct relay_dir *d) {
    ssize_t r;
    do { r = read(from, d->buf, RELAY_BUF); } while (r < 0 && errno == EINTR);
    if (r > 0) { d->off = 0; d->len = (size_t)r; return 0; }
    if (r == 0) { d->eof = 1; return 0; }
    return errno == EAGAIN ? 0 : -1;
}

/* Writes what the buffer holds; passes EOF on once it is empty. 0 = fine, -1 = error. */
static int pump_write(int to, struct relay_dir *d) {
    while (d->off < d->len) {
        ssize_t w = send(to, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
        if (w > 0) { d->off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return 0;
        return -1;
    }
    d->off = d->len = 0;
    if (d->eof && !d->shut) {
        shutdown(to, SHUT_WR);
        d->shut = 1;
    }
    return 0;
}

static short want_read(const struct relay_dir *d) { return (!d->eof && d->len == 0) ? POLLIN : 0; }
static short want_write(const struct relay_dir *d) { return d->off < d->len ? POLLOUT : 0; }

static void add_pfd(int *n, int fd, short events, int slot) {
    pfds[*n].fd = events ? fd : -1;   /* nothing wanted: do not wake up for it */
    pfds[*n].events = events;
    pfds[*n].revents = 0;
    pfd_slot[*n] = slot;
    (*n)++;
}

/* Moves bytes for one connection after poll; closes it when done or broken. */
static void service(struct relay_conn *k, short crev, short urev) {
    int bad = 0;
    if ((crev & (POLLIN | POLLHUP | POLLERR)) && want_read(&k->up)) bad |= pump_read(k->client, &k->up) < 0;
    if ((urev & (POLLIN | POLLHUP | POLLERR)) && want_read(&k->down)) bad |= pump_read(k->upstream, &k->down) < 0;
    if (!bad) bad |= pump_write(k->upstream, &k->up) < 0;
    if (!bad) bad |= pump_write(k->client, &k->down) < 0;
    if (bad || (k->up.shut && k->down.shut)) conn_close(k);
}

__attribute__((noreturn)) static void relay_loop(int listen_fd) {
    for (int i = 0; i < RELAY_SLOTS; i++) { conns[i].client = -1; conns[i].upstream = -1; }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * RELAY_SLOTS + 8) {
        max_slots = rl.rlim_cur > 10 ? (int)((rl.rlim_cur - 8) / 2) : 1;
    }
    for (;;) {
        int n = 0;
        int active = 0;
        for (int i = 0; i < RELAY_SLOTS; i++) if (conns[i].client >= 0) active++;
        add_pfd(&n, listen_fd, active < max_slots ? POLLIN : 0, -1);
        for (int i = 0; i < RELAY_SLOTS; i++) {
            struct relay_conn *k = &conns[i];
            if (k->client < 0) continue;
            add_pfd(&n, k->client, (short)(want_read(&k->up) | want_write(&k->down)), i);
            add_pfd(&n, k->upstream, (short)(want_read(&k->down) | want_write(&k->up)), i);
        }
        int r = poll(pfds, (nfds_t)n, -1);
        if (r < 0) continue;    /* EINTR; nothing else is expected */
        if (pfds[0].revents & POLLIN) accept_clients(listen_fd);
        for (int j = 1; j + 1 < n; j += 2) {
            struct relay_conn *k = &conns[pfd_slot[j]];
            if (k->client < 0) continue;
            if (pfds[j].revents || pfds[j + 1].revents) service(k, pfds[j].revents, pfds[j + 1].revents);
        }
    }
}

void cs_start_egress_relay(const struct cs_plan *p, int setup_fd) {
    /* The address first: a path that does not fit is a plan error, not a runtime one. */
    size_t plen = cs_strlen(p->egress_socket);
    if (plen == 0 || plen >= sizeof proxy_addr.sun_path) cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, p->egress_socket, ENAMETOOLONG);
    memset(&proxy_addr, 0, sizeof proxy_addr);
    proxy_addr.sun_family = AF_UNIX;
    memcpy(proxy_addr.sun_path, p->egress_socket, plen);
    proxy_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);

    /* Listen in init, before the command exists: the port is ours from the start. */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (lfd < 0) cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, "socket", errno);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)p->egress_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0) cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, "bind 127.0.0.1", errno);
    if (listen(lfd, 128) != 0) cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, "listen", errno);

    /* The relay tells init it is ready (a byte) or reports its failure on the setup pipe. */
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, "pipe", errno);
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, "fork", errno);
    if (pid == 0) {
        int keep[3] = { lfd, setup_fd, ready[1] };
        cs_close_fds_except(keep, 3);   /* status pipe, output pipes, ready[0] */
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd < 0) cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, "/dev/null", errno);
        for (int fd = 0; fd < 3; fd++) {
            if (dup2(null_fd, fd) < 0) cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, "stdio", errno);
        }
        close(null_fd);
        /* Forwarded signals stay blocked (inherited from init): SIGKILL at the end is what stops us. */
        signal(SIGPIPE, SIG_IGN);
        prctl(PR_SET_NAME, "coven-relay", 0, 0, 0);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, "pdeathsig", errno);
        const char *step = "";
        if (cs_drop_capabilities(&step) != 0) cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, step, errno);
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (cs_load_seccomp(p, NULL, &step) != 0) cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, step, errno);
        ssize_t w;
        do { w = write(ready[1], "R", 1); } while (w < 0 && errno == EINTR);
        close(ready[1]);
        close(setup_fd);
        relay_loop(lfd);
    }
    close(ready[1]);
    close(lfd);
    char c = 0;
    ssize_t r;
    do { r = read(ready[0], &c, 1); } while (r < 0 && errno == EINTR);
    close(ready[0]);
    /* No byte: the relay died and (normally) already said why on the setup pipe. */
    if (r != 1 || c != 'R') cs_die(setup_fd, CS_STAGE_EGRESS_RELAY, "relay exited", ECHILD);
}
