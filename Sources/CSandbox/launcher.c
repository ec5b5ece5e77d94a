/*
 * The supervisor side of a launch. Clones happen on one dedicated launcher thread
 * that never exits, because PR_SET_PDEATHSIG fires when the thread that created
 * the child exits, and the daemon's other threads come and go. That thread also
 * drops its supplementary groups (a per-thread credential when changed by raw
 * syscall), so no sandbox inherits the daemon's groups.
 */
#include "internal.h"
#include "zygote.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sched.h>
#include <sys/mman.h>
#include <link.h>

__attribute__((noreturn)) void cs_init_main(const struct cs_plan *plan, int sync_fd, int setup_fd, int status_fd, int lifeline_fd);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int lifeline[2] = { -1, -1 };

/* The one request in flight (launches are serialized; a clone takes well under a millisecond).
   A request is a launch, or (req_call) a function that must run on this thread: starting
   the launcher process, whose parent thread must never exit either. */
static int (*req_call)(void *);
static void *req_arg;
static const struct cs_plan *req_plan;
static struct cs_child *req_out;
static struct cs_error_record *req_err;
static int req_result;
static int req_errno;
static int req_pending;
static int req_done;
static pthread_mutex_t serial = PTHREAD_MUTEX_INITIALIZER;

/* Pre-made network namespaces (root only, opt-in): creating a net namespace is the
   single most expensive part of the clone (~0.45 ms). The launcher thread makes them
   while it is idle (unshare, loopback up, keep an fd, return to the host namespace)
   and a launch enters one before cloning instead of asking for CLONE_NEWNET. Such a
   namespace is owned by the host's user namespace, so the sandbox cannot reconfigure
   it at all (its loopback is already up). */
#define NETNS_POOL_MAX 8
static int netns_pool[NETNS_POOL_MAX];
static int netns_pool_count;
static int netns_pool_target;          /* set by cs_set_netns_pool; 0 = off */
/* Refills wait this long after a launch, so they do not slow down the set-up of the
   sandbox just launched (measured: a refill right after a launch cost that sandbox more
   than the pooled namespace saved it, on 2 cores). */
#define NETNS_REFILL_QUIET_NS (50 * 1000000L)
static struct timespec last_launch;    /* CLOCK_MONOTONIC */
static int host_netns_fd = -1;

void cs_set_lifeline_fd(int fd) { lifeline[0] = fd; }

static int make_pooled_netns(void) {
    if (host_netns_fd < 0) return -1;
    if (unshare(CLONE_NEWNET) != 0) return -1;
    int fd = -1;
    if (cs_loopback_up() == 0) fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (setns(host_netns_fd, CLONE_NEWNET) != 0) {
        /* Cannot get back: this thread must not launch anything else in the wrong namespace. */
        if (fd >= 0) close(fd);
        netns_pool_target = 0;
        return -1;
    }
    return fd;
}

/* Makes one pooled namespace, at idle priority: creating one is ~0.45 ms of CPU that
 * should never delay a launch. The launcher is back at normal priority before it clones
 * again, and SCHED_RESET_ON_FORK keeps sandboxes from ever inheriting it. */
static void refill_netns_pool_once(void) {
    struct sched_param sp;
    memset(&sp, 0, sizeof sp);
    int idle = sched_setscheduler(0, SCHED_IDLE | SCHED_RESET_ON_FORK, &sp) == 0;
    int fd = make_pooled_netns();
    if (idle && sched_setscheduler(0, SCHED_OTHER, &sp) != 0) {
        netns_pool_target = 0;  /* cannot get back to normal priority: stop pooling */
    }
    if (fd < 0) { netns_pool_target = 0; return; }
    netns_pool[netns_pool_count++] = fd;
}

void cs_pool_init(void) {
    if (geteuid() == 0 && host_netns_fd < 0) host_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
}

void cs_pool_set_target(int count) {
    netns_pool_target = (geteuid() == 0 && count > 0) ? (count > NETNS_POOL_MAX ? NETNS_POOL_MAX : count) : 0;
}

int cs_pool_count(void) { return netns_pool_count; }

void cs_pool_note_launch(void) { clock_gettime(CLOCK_MONOTONIC, &last_launch); }

long cs_pool_refill_due_ns(void) {
    if (netns_pool_count >= netns_pool_target) return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - last_launch.tv_sec) * 1000000000L + (now.tv_nsec - last_launch.tv_nsec);
    return elapsed >= NETNS_REFILL_QUIET_NS ? 0 : NETNS_REFILL_QUIET_NS - elapsed;
}

void cs_pool_refill_one(void) { refill_netns_pool_once(); }

static int write_text(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int e = errno;
    close(fd);
    if (w != (ssize_t)n) { errno = w < 0 ? e : EIO; return -1; }
    return 0;
}

static int fail(struct cs_error_record *err, int stage, const char *detail, int e) {
    err->stage = stage;
    err->err = e;
    snprintf(err->detail, sizeof err->detail, "%s", detail ? detail : "");
    errno = e;
    return -1;
}

static int do_launch_plan(const struct cs_plan *p, struct cs_child *out, struct cs_error_record *err, int as_sibling, pid_t *reap);

int cs_launch_here(const struct cs_plan *p, struct cs_child *out, struct cs_error_record *err, int as_sibling, pid_t *reap) {
    if (!(p->clone_flags & CLONE_NEWNET) || netns_pool_count == 0) return do_launch_plan(p, out, err, as_sibling, reap);
    /* Enter a pre-made namespace, clone into it, come back. */
    int fd = netns_pool[--netns_pool_count];
    if (setns(fd, CLONE_NEWNET) != 0) { close(fd); return do_launch_plan(p, out, err, as_sibling, reap); }
    struct cs_plan local = *p;
    local.clone_flags &= ~CLONE_NEWNET;
    local.net_loopback = 0;
    int r = do_launch_plan(&local, out, err, as_sibling, reap);
    int e = errno;
    close(fd);
    if (setns(host_netns_fd, CLONE_NEWNET) != 0) netns_pool_target = 0;   /* never launch from a stray namespace */
    errno = e;
    return r;
}

struct clone_args_v2 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#define CS_CLONE_INTO_CGROUP 0x200000000ULL

/* The kernel (or a seccomp filter around us) has no clone3 with CLONE_INTO_CGROUP: ENOSYS,
 * E2BIG or EINVAL will not change, so it is not tried again. */
static int clone_into_cgroup_refused;

#ifndef CLONE_PARENT
#define CLONE_PARENT 0x00008000
#endif

static pid_t clone3_into(uint64_t flags, int cgroup_fd) {
    struct clone_args_v2 args;
    memset(&args, 0, sizeof args);
    args.flags = flags | CS_CLONE_INTO_CGROUP;
    /* clone3 refuses an exit signal with CLONE_PARENT (EINVAL): the child then takes the
       caller's own, SIGCHLD for the launcher process. */
    args.exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    return (pid_t)syscall(SYS_clone3, &args, sizeof args);
}

static int do_launch_plan(const struct cs_plan *p, struct cs_child *out, struct cs_error_record *err, int as_sibling, pid_t *reap) {
    /* A sibling (the launcher process's sandboxes) is the daemon's child: it reaps it, gets
       its rusage, and its death signal follows the daemon's launcher thread. */
    unsigned long parent = as_sibling ? CLONE_PARENT : 0;
    int syncp[2], setupp[2], statusp[2];
    if (pipe2(syncp, O_CLOEXEC) < 0) return fail(err, CS_STAGE_LAUNCHER, "pipe", errno);
    if (pipe2(setupp, O_CLOEXEC) < 0) { int e = errno; close(syncp[0]); close(syncp[1]); return fail(err, CS_STAGE_LAUNCHER, "pipe", e); }
    if (pipe2(statusp, O_CLOEXEC) < 0) {
        int e = errno; close(syncp[0]); close(syncp[1]); close(setupp[0]); close(setupp[1]);
        return fail(err, CS_STAGE_LAUNCHER, "pipe", e);
    }

    pid_t pid = -1;
    int entry = CS_CGROUP_ENTRY_NONE;
    if (p->cgroup_dir_fd >= 0) {
        entry = CS_CGROUP_ENTRY_PID_WRITE;
        if (!clone_into_cgroup_refused) {
            /* Born in its cgroup: no migration, so no threadgroup lock (an RCU grace period). */
            pid = clone3_into((uint64_t)(unsigned int)p->clone_flags | parent, p->cgroup_dir_fd);
            if (pid == 0) cs_init_main(p, syncp[0], setupp[1], statusp[1], lifeline[0]);
            if (pid > 0) entry = CS_CGROUP_ENTRY_CLONE3;
            else if (errno == ENOSYS || errno == E2BIG || errno == EINVAL) clone_into_cgroup_refused = 1;
        }
    }
    /* Any other refusal (EPERM, EACCES, ENOSPC, EAGAIN…) may be the cgroup's or the namespaces':
     * the plain clone and the cgroup.procs write below then fail at the step that is at fault. */
    if (pid < 0) {
        pid = (pid_t)syscall(SYS_clone, (unsigned long)(p->clone_flags | SIGCHLD) | parent, 0, 0, 0, 0);
        if (pid == 0) {
            /* Child: from here on only async-signal-safe code. */
            cs_init_main(p, syncp[0], setupp[1], statusp[1], lifeline[0]);
        }
    }
    int clone_errno = errno;
    if (entry == CS_CGROUP_ENTRY_NONE && p->ncgroup_procs > 0) entry = CS_CGROUP_ENTRY_PID_WRITE;
    close(syncp[0]);
    close(setupp[1]);
    close(statusp[1]);
    if (pid < 0) {
        close(syncp[1]); close(setupp[0]); close(statusp[0]);
        return fail(err, CS_STAGE_CLONE, "clone", clone_errno);
    }

    char path[64], text[128];
    const char *step = NULL;
    int e = 0;
    int mntns = -1;
    if (p->clone_flags & CLONE_NEWNS) {
        /* Opened while the child still waits on syncp, so it is ours to open whatever uid
         * it switches to later. Failure only costs the deferred teardown. */
        snprintf(path, sizeof path, "/proc/%d/ns/mnt", pid);
        mntns = open(path, O_RDONLY | O_CLOEXEC);
    }
    int stage = CS_STAGE_ID_MAP;
    if (p->clone_flags & CLONE_NEWUSER) {
        snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
        if (write_text(path, "deny") < 0 && errno != ENOENT) { step = "setgroups"; e = errno; goto bail; }
        snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
        snprintf(text, sizeof text, "%u %u 1\n", p->inner_uid, p->host_uid);
        if (write_text(path, text) < 0) { step = "uid_map"; e = errno; goto bail; }
        snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
        snprintf(text, sizeof text, "%u %u 1\n", p->inner_gid, p->host_gid);
        if (write_text(path, text) < 0) { step = "gid_map"; e = errno; goto bail; }
    }
    /* Not born in its cgroup: join through cgroup.procs before it runs (v2 fallback). */
    stage = CS_STAGE_CGROUP_JOIN;
    for (int i = 0; entry != CS_CGROUP_ENTRY_CLONE3 && i < p->ncgroup_procs; i++) {
        snprintf(text, sizeof text, "%d", pid);
        if (write_text(p->cgroup_procs[i], text) < 0) { step = p->cgroup_procs[i]; e = errno; goto bail; }
    }
    stage = CS_STAGE_RELEASE;
    if (write(syncp[1], "G", 1) != 1) { step = "sync pipe"; e = errno; goto bail; }
    close(syncp[1]);

    out->pid = pid;
    out->cloned_into_cgroup = entry == CS_CGROUP_ENTRY_CLONE3;
    out->cgroup_entry = entry;
    out->pidfd = as_sibling ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
    if (out->pidfd >= 0) fcntl(out->pidfd, F_SETFD, FD_CLOEXEC);
    out->setup_fd = setupp[0];
    out->status_fd = statusp[0];
    out->mntns_fd = mntns;
    return 0;

bail:
    kill(pid, SIGKILL);
    if (as_sibling) *reap = pid;
    else waitpid(pid, NULL, 0);
    close(syncp[1]); close(setupp[0]); close(statusp[0]);
    if (mntns >= 0) close(mntns);
    return fail(err, stage, step, e);
}

/* The sandbox's init is a copy of this process until it dies: it runs only our C code
 * and libc, never the daemon's other shared libraries (FoundationNetworking's libcurl and
 * its dozens of dependencies, libstdc++, SQLite, libseccomp...). Copying their mappings
 * at every clone, tearing them down at every exit and write-protecting their data in the
 * daemon cost a launch ~0.2 ms (perf: dup_mmap and copy-on-write faults), so they are
 * marked MADV_DONTFORK: a child gets no copy of them at all. libc and the dynamic loader
 * stay, as does everything that is not a shared library. This holds only because init
 * never enters the loader's lazy binding, which walks every loaded library's symbols:
 * CSandbox is built with -fno-plt (Package.swift), so its libc calls are bound at load.
 * Called on the launcher thread before its first clone, and again before a clone whenever
 * the daemon has loaded a library since (NSS modules, for one, are loaded by the first
 * name lookup, long after the start). */
static int is_shared_library(const char *base) {
    /* "libfoo.so" or "libfoo.so.1.2": ".so" at the end or followed by a version. */
    for (const char *s = strstr(base, ".so"); s; s = strstr(s + 1, ".so")) {
        if (s[3] == 0 || s[3] == '.') return 1;
    }
    return 0;
}

static void exclude_unused_libraries(void) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    static char buf[1 << 16];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0) break;
        have += (size_t)r;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', (size_t)(buf + have - line))) != NULL) {
            *nl = 0;
            unsigned long start, end;
            char *path = strchr(line, '/');
            if (path && sscanf(line, "%lx-%lx", &start, &end) == 2) {
                const char *base = strrchr(path, '/') + 1;
                int needed = strncmp(base, "libc.so", 7) == 0 || strncmp(base, "ld-linux", 8) == 0;
                if (is_shared_library(base) && !needed) madvise((void *)start, end - start, MADV_DONTFORK);
            }
            line = nl + 1;
        }
        size_t rest = (size_t)(buf + have - line);
        memmove(buf, line, rest);
        have = rest;
    }
    close(fd);
}

/* The loader's count of libraries loaded so far (dlpi_adds), read from the first entry. */
static int read_loads(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    *(unsigned long long *)data = info->dlpi_adds;
    return 1;
}

static unsigned long long marked_loads;

/* Marks what was loaded since the last marking (a walk of /proc/self/maps; none when
 * nothing was: one dl_iterate_phdr step). */
static void exclude_newly_loaded_libraries(void) {
    unsigned long long loads = 0;
    dl_iterate_phdr(read_loads, &loads);
    if (loads == marked_loads) return;
    marked_loads = loads;
    exclude_unused_libraries();
}

static void *launcher_main(void *arg) {
    (void)arg;
    /* Sandboxes never carry the daemon's supplementary groups (only this thread drops them). */
    if (geteuid() == 0) syscall(SYS_setgroups, 0, NULL);
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    cs_pool_init();
    exclude_newly_loaded_libraries();
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!req_pending) {
            if (netns_pool_count < netns_pool_target) {
                struct timespec now, quiet = last_launch;
                clock_gettime(CLOCK_MONOTONIC, &now);
                quiet.tv_nsec += NETNS_REFILL_QUIET_NS;
                if (quiet.tv_nsec >= 1000000000L) { quiet.tv_sec += 1; quiet.tv_nsec -= 1000000000L; }
                if (now.tv_sec > quiet.tv_sec || (now.tv_sec == quiet.tv_sec && now.tv_nsec >= quiet.tv_nsec)) {
                    /* Idle and quiet: top up the pool without holding the lock. */
                    pthread_mutex_unlock(&lock);
                    exclude_newly_loaded_libraries();
                    refill_netns_pool_once();  /* one at a time: a launch request may be waiting */
                    pthread_mutex_lock(&lock);
                } else {
                    pthread_cond_timedwait(&cond, &lock, &quiet);
                }
                continue;
            }
            pthread_cond_wait(&cond, &lock);
        }
        req_pending = 0;
        if (req_call) {
            req_result = req_call(req_arg);
            req_errno = errno;
            req_done = 1;
            pthread_cond_broadcast(&cond);
            continue;
        }
        exclude_newly_loaded_libraries();
        req_result = cs_launch_here(req_plan, req_out, req_err, 0, NULL);
        req_errno = errno;
        clock_gettime(CLOCK_MONOTONIC, &last_launch);
        req_done = 1;
        pthread_cond_broadcast(&cond);
    }
    return NULL;
}

static int start_failed;

static void start_launcher(void) {
    if (pipe2(lifeline, O_CLOEXEC) < 0) { start_failed = errno; return; }
    /* Timed waits (the refill's quiet period) count on the monotonic clock. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int r = pthread_create(&t, &attr, launcher_main, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0) start_failed = r;
}

/* Runs fn(arg) on the launcher thread; its result and errno. */
int cs_on_launcher_thread(int (*fn)(void *), void *arg) {
    pthread_once(&once, start_launcher);
    if (start_failed) { errno = start_failed; return -1; }
    pthread_mutex_lock(&serial);
    pthread_mutex_lock(&lock);
    req_call = fn; req_arg = arg;
    req_done = 0; req_pending = 1;
    pthread_cond_broadcast(&cond);
    while (!req_done) pthread_cond_wait(&cond, &lock);
    req_call = NULL;
    int result = req_result, e = req_errno;
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&serial);
    errno = e;
    return result;
}

int cs_lifeline_read_fd(void) {
    pthread_once(&once, start_launcher);
    return lifeline[0];
}

int cs_launch(const struct cs_plan *plan, struct cs_child *out, struct cs_error_record *err) {
    pthread_once(&once, start_launcher);
    if (start_failed) return fail(err, CS_STAGE_LAUNCHER, "start launcher thread", start_failed);
    out->pid = -1; out->pidfd = -1; out->setup_fd = -1; out->status_fd = -1; out->mntns_fd = -1;
    out->cloned_into_cgroup = 0; out->cgroup_entry = CS_CGROUP_ENTRY_NONE;
    pthread_mutex_lock(&serial);
    int handled = 0;
    int zr = cs_zygote_launch(plan, out, err, &handled);
    if (handled) {
        int e = errno;
        pthread_mutex_unlock(&serial);
        errno = e;
        return zr;
    }
    pthread_mutex_lock(&lock);
    req_call = NULL; req_plan = plan; req_out = out; req_err = err;
    req_done = 0; req_pending = 1;
    pthread_cond_broadcast(&cond);
    while (!req_done) pthread_cond_wait(&cond, &lock);
    int result = req_result, e = req_errno;
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&serial);
    errno = e;
    return result;
}

void cs_set_netns_pool(int count) {
    pthread_once(&once, start_launcher);
    pthread_mutex_lock(&serial);
    /* The pool lives where the clones happen: in the launcher process while it runs. */
    int taken = cs_zygote_set_pool(count);
    pthread_mutex_lock(&lock);
    cs_pool_set_target(taken ? 0 : count);
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&serial);
}

int cs_netns_pool_ready(void) {
    pthread_mutex_lock(&serial);
    int n = cs_zygote_pool_ready();
    pthread_mutex_unlock(&serial);
    if (n >= 0) return n;
    pthread_mutex_lock(&lock);
    n = netns_pool_count;
    pthread_mutex_unlock(&lock);
    return n;
}

int cs_pidfd_open(pid_t pid) {
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

int cs_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

pid_t cs_wait(pid_t pid, int *status, double *cpu_seconds, int nohang) {
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    pid_t r;
    do { r = wait4(pid, status, nohang ? WNOHANG : 0, &ru); } while (r < 0 && errno == EINTR);
    if (r > 0 && cpu_seconds) {
        *cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
                     + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    }
    return r;
}

int cs_pipe(int fds[2], int nonblock) {
    return pipe2(fds, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
}
