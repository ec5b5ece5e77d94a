/*
 * The launcher process ("zygote"): a small C executable the daemon starts once, that
 * clones every sandbox from its own tiny address space instead of the daemon's.
 *
 * Cloning from the daemon copies its page tables and mappings into each sandbox's init
 * (dup_mmap) and leaves the daemon taking a copy-on-write fault on every page it writes
 * afterwards. Cloned from the zygote, init copies a few pages. The sandbox is cloned with
 * CLONE_PARENT, so it is still the daemon's child: the daemon waits for it, reads its
 * rusage, and its PR_SET_PDEATHSIG still follows the daemon's launcher thread (the
 * zygote's parent thread, which never exits). The zygote itself dies with that thread.
 *
 * One SOCK_SEQPACKET pair: a request is a packed plan (plancodec.c) with its fds attached;
 * the reply carries the result and the new sandbox's setup, status and mount-namespace
 * fds. Launches stay serialized (launcher.c's lock). The pool of ready network namespaces
 * moves into the zygote with the clones. If the zygote is gone, or a plan does not fit a
 * message, the daemon launches in-process as before.
 */
#include "internal.h"
#include "zygote.h"
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

enum { ZYGOTE_SOCKET_FD = 3, ZYGOTE_LIFELINE_FD = 4 };

/* ---- daemon side ---- */

static int zygote_sock = -1;
static pid_t zygote_pid = -1;
static int zygote_enabled = 1;

/* The zygote is gone (or answers nonsense): launches go back in-process for good. */
static void zygote_lost(void) {
    if (zygote_sock >= 0) close(zygote_sock);
    zygote_sock = -1;
    if (zygote_pid > 0) {
        kill(zygote_pid, SIGKILL);
        waitpid(zygote_pid, NULL, 0);
    }
    zygote_pid = -1;
}

/* On the launcher thread: socket pair, clone, exec. The child runs async-signal-safe code
 * only (the daemon is multi-threaded): it arranges fds 3 and 4, sets its death signal,
 * checks its parent still lives and execs. */
static int spawn_zygote(void *arg) {
    const char *path = arg;
    if (zygote_sock >= 0) return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    int size = CS_ZYGOTE_MAX_MESSAGE + 65536;
    /* Beyond net.core.wmem_max only as root (SO_SNDBUFFORCE); else larger plans launch in-process. */
    if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    int lifeline_fd = cs_lifeline_read_fd();
    pid_t parent = getpid();
    pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        /* Through fds >= 10 first, so neither lands on the other. */
        int a = fcntl(sv[1], F_DUPFD, 10), b = lifeline_fd >= 0 ? fcntl(lifeline_fd, F_DUPFD, 10) : -1;
        if (a < 0 || dup2(a, ZYGOTE_SOCKET_FD) < 0) _exit(127);
        if (b >= 0 && dup2(b, ZYGOTE_LIFELINE_FD) < 0) _exit(127);
        if (b < 0) close(ZYGOTE_LIFELINE_FD);
        int keep[2] = { ZYGOTE_SOCKET_FD, ZYGOTE_LIFELINE_FD };
        cs_close_fds_except(keep, 2);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent) _exit(127);
        char *argv[] = { (char *)"coven-sandbox-zygote", NULL };
        char *envp[] = { NULL };
        execve(path, argv, envp);
        _exit(127);
    }
    int e = errno;
    close(sv[1]);
    if (pid < 0) { close(sv[0]); errno = e; return -1; }
    zygote_sock = sv[0];
    zygote_pid = pid;
    /* It says it is ready once it runs; EOF means the exec failed. */
    struct pollfd pfd = { zygote_sock, POLLIN, 0 };
    char ready[8];
    int nfds, fds[CS_ZYGOTE_MAX_FDS];
    if (poll(&pfd, 1, 5000) != 1 || cs_receive_with_fds(zygote_sock, ready, sizeof ready, fds, &nfds, CS_ZYGOTE_MAX_FDS, 0) != 1 || ready[0] != 'R') {
        zygote_lost();
        errno = ENOEXEC;
        return -1;
    }
    return 0;
}

int cs_zygote_start(const char *path) {
    return cs_on_launcher_thread(spawn_zygote, (void *)path);
}

void cs_zygote_enable(int on) { zygote_enabled = on; }

int cs_zygote_active(void) { return zygote_enabled && zygote_sock >= 0; }

static int zygote_request(const struct cs_zygote_request *req, struct cs_zygote_reply *reply) {
    int fds[CS_ZYGOTE_MAX_FDS], nfds;
    if (cs_send_with_fds(zygote_sock, req, sizeof *req, NULL, 0) != 0
        || cs_receive_with_fds(zygote_sock, reply, sizeof *reply, fds, &nfds, CS_ZYGOTE_MAX_FDS, 0) != (ssize_t)sizeof *reply) {
        zygote_lost();
        return -1;
    }
    for (int i = 0; i < nfds; i++) close(fds[i]);
    return 0;
}

int cs_zygote_set_pool(int count) {
    if (!cs_zygote_active()) return 0;
    struct cs_zygote_request req;
    memset(&req, 0, sizeof req);
    req.kind = CS_ZYGOTE_SET_POOL;
    req.size = sizeof req;
    req.pool = count;
    struct cs_zygote_reply reply;
    return zygote_request(&req, &reply) == 0;
}

int cs_zygote_pool_ready(void) {
    if (!cs_zygote_active()) return -1;
    struct cs_zygote_request req;
    memset(&req, 0, sizeof req);
    req.kind = CS_ZYGOTE_POOL_READY;
    req.size = sizeof req;
    struct cs_zygote_reply reply;
    return zygote_request(&req, &reply) == 0 ? reply.pool_ready : -1;
}

int cs_zygote_launch(const struct cs_plan *plan, struct cs_child *out, struct cs_error_record *err, int *handled) {
    *handled = 0;
    if (!cs_zygote_active()) return -1;
    char *msg;
    size_t len;
    int fds[CS_ZYGOTE_MAX_FDS], nfds;
    if (cs_plan_pack(plan, &msg, &len, fds, &nfds) != 0) return -1;   /* too big: in-process */
    int sent = cs_send_with_fds(zygote_sock, msg, len, fds, nfds);
    int send_errno = errno;
    free(msg);
    if (sent != 0) {
        if (send_errno != EMSGSIZE) zygote_lost();
        return -1;
    }
    struct cs_zygote_reply reply;
    int got[CS_ZYGOTE_MAX_FDS], ngot;
    ssize_t n = cs_receive_with_fds(zygote_sock, &reply, sizeof reply, got, &ngot, CS_ZYGOTE_MAX_FDS, 0);
    if (n != (ssize_t)sizeof reply) {
        for (int i = 0; i < (n > 0 ? ngot : 0); i++) close(got[i]);
        zygote_lost();   /* it may have cloned already; with the zygote gone its sync pipe ends and the child exits */
        return -1;
    }
    *handled = 1;
    if (reply.reap > 0) waitpid(reply.reap, NULL, 0);
    if (reply.result != 0) {
        for (int i = 0; i < ngot; i++) close(got[i]);
        *err = reply.err;
        errno = reply.err_no;
        return -1;
    }
    if (ngot != 2 + (reply.has_mntns ? 1 : 0)) {
        for (int i = 0; i < ngot; i++) close(got[i]);
        kill(reply.pid, SIGKILL);
        waitpid(reply.pid, NULL, 0);
        err->stage = CS_STAGE_LAUNCHER;
        err->err = EPROTO;
        memcpy(err->detail, "launcher process reply", sizeof "launcher process reply");
        errno = EPROTO;
        return -1;
    }
    out->pid = reply.pid;
    out->cgroup_entry = reply.cgroup_entry;
    out->cloned_into_cgroup = reply.cgroup_entry == CS_CGROUP_ENTRY_CLONE3;
    out->setup_fd = got[0];
    out->status_fd = got[1];
    out->mntns_fd = reply.has_mntns ? got[2] : -1;
    out->pidfd = cs_pidfd_open(reply.pid);
    return 0;
}

/* ---- the zygote ---- */

static char request_buffer[CS_ZYGOTE_MAX_MESSAGE] __attribute__((aligned(16)));

static void answer_launch(int sock, ssize_t n, int *fds, int nfds) {
    struct cs_zygote_reply reply;
    memset(&reply, 0, sizeof reply);
    struct cs_plan plan;
    struct cs_child child;
    memset(&child, 0, sizeof child);
    child.mntns_fd = -1;
    int out[3], nout = 0;
    if (cs_plan_unpack(request_buffer, (size_t)n, fds, nfds, &plan) != 0) {
        reply.result = -1;
        reply.err_no = EPROTO;
        reply.err.stage = CS_STAGE_LAUNCHER;
        reply.err.err = EPROTO;
        memcpy(reply.err.detail, "malformed launch request", sizeof "malformed launch request");
    } else {
        pid_t reap = 0;
        reply.result = cs_launch_here(&plan, &child, &reply.err, 1, &reap);
        reply.err_no = errno;
        reply.reap = reap;
        cs_pool_note_launch();
        if (reply.result == 0) {
            reply.pid = child.pid;
            reply.cgroup_entry = child.cgroup_entry;
            out[nout++] = child.setup_fd;
            out[nout++] = child.status_fd;
            if (child.mntns_fd >= 0) { out[nout++] = child.mntns_fd; reply.has_mntns = 1; }
        }
    }
    if (cs_send_with_fds(sock, &reply, sizeof reply, out, nout) != 0) _exit(1);
    for (int i = 0; i < nout; i++) close(out[i]);
    for (int i = 0; i < nfds; i++) close(fds[i]);
}

int cs_zygote_main(void) {
    int sock = ZYGOTE_SOCKET_FD;
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    /* Sandboxes never carry supplementary groups (the launcher thread drops them too). */
    if (geteuid() == 0) syscall(SYS_setgroups, 0, NULL);
    struct pollfd lifeline = { ZYGOTE_LIFELINE_FD, 0, 0 };
    cs_set_lifeline_fd(fcntl(ZYGOTE_LIFELINE_FD, F_GETFD) >= 0 ? ZYGOTE_LIFELINE_FD : -1);
    if (poll(&lifeline, 1, 0) > 0 && (lifeline.revents & (POLLHUP | POLLERR))) return 1;
    cs_pool_init();
    if (cs_send_with_fds(sock, "R", 1, NULL, 0) != 0) return 1;
    for (;;) {
        long due = cs_pool_refill_due_ns();
        if (due == 0) {
            struct pollfd now = { sock, POLLIN, 0 };
            if (poll(&now, 1, 0) == 0) { cs_pool_refill_one(); continue; }   /* idle: one at a time */
        }
        struct pollfd pfd = { sock, POLLIN, 0 };
        int r = poll(&pfd, 1, due < 0 ? -1 : (int)(due / 1000000L) + 1);
        if (r < 0 && errno != EINTR) return 1;
        if (r <= 0) continue;
        int fds[CS_ZYGOTE_MAX_FDS], nfds;
        ssize_t n = cs_receive_with_fds(sock, request_buffer, sizeof request_buffer, fds, &nfds, CS_ZYGOTE_MAX_FDS, 0);
        if (n == 0) return 0;                       /* the daemon closed it: done */
        if (n < 0 && errno != EMSGSIZE) return 1;
        struct cs_zygote_reply reply;
        memset(&reply, 0, sizeof reply);
        const struct cs_zygote_request *req = (const struct cs_zygote_request *)request_buffer;
        if (n < (ssize_t)sizeof *req) {
            for (int i = 0; i < nfds; i++) close(fds[i]);
            reply.result = -1;
            reply.err_no = EPROTO;
            if (cs_send_with_fds(sock, &reply, sizeof reply, NULL, 0) != 0) return 1;
            continue;
        }
        switch (req->kind) {
        case CS_ZYGOTE_LAUNCH:
            answer_launch(sock, n, fds, nfds);
            continue;
        case CS_ZYGOTE_SET_POOL:
            cs_pool_set_target(req->pool);
            break;
        case CS_ZYGOTE_POOL_READY:
            break;
        default:
            reply.result = -1;
            reply.err_no = EPROTO;
        }
        for (int i = 0; i < nfds; i++) close(fds[i]);
        reply.pool_ready = cs_pool_count();
        if (cs_send_with_fds(sock, &reply, sizeof reply, NULL, 0) != 0) return 1;
    }
}
