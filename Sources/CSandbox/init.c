/*
 * The sandbox's init (pid 1 of its pid namespace), from clone() to the end:
 * wait for the supervisor to map ids and place us in our cgroups, take the
 * sandbox identity, arrange to die with the supervisor, build the filesystem,
 * set hostname, loopback, cgroup namespace and rlimits, start the egress relay
 * (proxy mode), fork the workload, then reap zombies and forward signals until
 * the workload exits.
 */
#include "internal.h"
#include <string.h>
#include <signal.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <sched.h>

/* Descriptors init holds, moved to fixed high slots so they never collide with 0-2. */
enum { SLOT_SYNC = 1000, SLOT_SETUP, SLOT_STATUS, SLOT_LIFELINE, SLOT_STDOUT, SLOT_STDERR, SLOT_DENIAL, SLOT_CGROUP = 1010 };
#define MAX_CGROUP_JOIN 8

/* Moves this (single-threaded) process into its cgroups through the `tasks` files the
   supervisor opened: "0" means the calling thread, which the kernel migrates without
   taking its global threadgroup lock. */
static void join_cgroups(const int *fds, int n, int setup_fd) {
    for (int i = 0; i < n; i++) {
        ssize_t w;
        do { w = write(fds[i], "0", 1); } while (w < 0 && errno == EINTR);
        if (w != 1) cs_die(setup_fd, CS_STAGE_CGROUP_JOIN, "tasks", w < 0 ? errno : EIO);
        close(fds[i]);
    }
}

static int move_fd(int fd, int slot) {
    if (fd < 0) return -1;
    if (dup3(fd, slot, O_CLOEXEC) < 0) return -1;
    return slot;
}

static void set_rlimit(int resource, int64_t value, int setup_fd, const char *name) {
    if (value < 0) return;
    struct rlimit rl = { (rlim_t)value, (rlim_t)value };
    if (setrlimit(resource, &rl) != 0) {
        /* The hard limit may be below our wish: lower the soft limit to it instead. */
        struct rlimit cur;
        if (getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY && cur.rlim_max < (rlim_t)value) {
            rl.rlim_cur = rl.rlim_max = cur.rlim_max;
            if (setrlimit(resource, &rl) == 0) return;
        }
        cs_die(setup_fd, CS_STAGE_RLIMIT, name, errno);
    }
}

static void drop_init_privileges(void) {
    /* Init needs no capability after set-up: kill() inside the sandbox works by uid. */
    for (int cap = 0; cap <= 63; cap++) if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL) break;
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    syscall(SYS_capset, &hdr, data);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Signal everything in the sandbox but init. Only ever as pid 1 of our own pid namespace. */
static void signal_all(int sig) {
    if (getpid() == 1) kill(-1, sig);
}

__attribute__((noreturn)) static void supervise(pid_t workload, int status_fd, const sigset_t *watched) {
    int have_status = 0;
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(watched, &info);
        if (sig < 0) continue;
        if (sig != SIGCHLD) {
            signal_all(sig);
            continue;
        }
        for (;;) {
            int st;
            pid_t r = waitpid(-1, &st, WNOHANG);
            if (r <= 0) break;
            if (r == workload && !have_status) {
                have_status = 1;
                int32_t v = st;
                ssize_t w;
                do { w = write(status_fd, &v, sizeof v); } while (w < 0 && errno == EINTR);
                /* The command is over, so is the sandbox: nothing it started outlives it. */
                signal_all(SIGKILL);
                _exit(0);
            }
        }
    }
}

__attribute__((noreturn)) void cs_init_main(const struct cs_plan *plan, int sync_fd, int setup_fd, int status_fd, int lifeline_fd);

/* The workload's own stack while it shares init's memory (until execve). */
static char spawn_stack[256 * 1024] __attribute__((aligned(16)));
static struct { const struct cs_plan *plan; int setup_fd; int status_fd; } spawn_args;

static int workload_main(void *arg) {
    (void)arg;
    close(spawn_args.status_fd);
    cs_exec_workload(spawn_args.plan, spawn_args.setup_fd);
}

void cs_init_main(const struct cs_plan *plan, int sync_fd, int setup_fd, int status_fd, int lifeline_fd) {
    struct cs_plan p = *plan;
    /* Arrange our descriptors; drop every other one inherited from the daemon. */
    sync_fd = move_fd(sync_fd, SLOT_SYNC);
    setup_fd = move_fd(setup_fd, SLOT_SETUP);
    status_fd = move_fd(status_fd, SLOT_STATUS);
    lifeline_fd = move_fd(lifeline_fd, SLOT_LIFELINE);
    p.stdout_fd = move_fd(p.stdout_fd, SLOT_STDOUT);
    p.stderr_fd = move_fd(p.stderr_fd, SLOT_STDERR);
    p.denial_fd = move_fd(p.denial_fd, SLOT_DENIAL);
    int join[MAX_CGROUP_JOIN];
    int njoin = p.ncgroup_join_fds < MAX_CGROUP_JOIN ? p.ncgroup_join_fds : MAX_CGROUP_JOIN;
    for (int i = 0; i < njoin; i++) join[i] = move_fd(p.cgroup_join_fds[i], SLOT_CGROUP + i);
    int keep[7 + MAX_CGROUP_JOIN] = { sync_fd, setup_fd, status_fd, lifeline_fd, p.stdout_fd, p.stderr_fd, p.denial_fd };
    for (int i = 0; i < njoin; i++) keep[7 + i] = join[i];
    cs_close_fds_except(keep, 7 + njoin);

    /* 1. Wait until the supervisor wrote our id maps and cgroups (EOF: it gave up or died). */
    char go = 0;
    ssize_t r;
    do { r = read(sync_fd, &go, 1); } while (r < 0 && errno == EINTR);
    if (r != 1 || go != 'G') _exit(125);
    close(sync_fd);
    join_cgroups(join, njoin, setup_fd);

    /* 2. Become the sandbox identity (mapped, so tmpfs inodes are ours); caps stay in our namespace. */
    if (syscall(SYS_setresgid, p.inner_gid, p.inner_gid, p.inner_gid) != 0) cs_die(setup_fd, CS_STAGE_SETGID, NULL, errno);
    if (syscall(SYS_setresuid, p.inner_uid, p.inner_uid, p.inner_uid) != 0) cs_die(setup_fd, CS_STAGE_SETUID, NULL, errno);

    /* 3. Die with the supervisor (set after the id change, which would clear it), then check it still lives. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) cs_die(setup_fd, CS_STAGE_PDEATHSIG, NULL, errno);
    if (lifeline_fd >= 0) {
        struct pollfd pfd = { lifeline_fd, 0, 0 };
        if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR))) _exit(125);
        close(lifeline_fd);
    }

    /* 4. Filesystem. */
    cs_setup_filesystem(&p, setup_fd);

    /* 5. The rest of the namespaces. */
    if (p.hostname && sethostname(p.hostname, cs_strlen(p.hostname)) != 0)
        cs_die(setup_fd, CS_STAGE_HOSTNAME, p.hostname, errno);
    if (p.net_loopback && cs_loopback_up() != 0) cs_die(setup_fd, CS_STAGE_LOOPBACK, "lo", errno);
    if (p.unshare_cgroup && unshare(CLONE_NEWCGROUP) != 0) cs_die(setup_fd, CS_STAGE_CGROUP_NS, NULL, errno);

    /* 6. Resource limits (inherited by the workload). */
    set_rlimit(RLIMIT_CORE, p.rlimit_core, setup_fd, "RLIMIT_CORE");
    set_rlimit(RLIMIT_NOFILE, p.rlimit_nofile, setup_fd, "RLIMIT_NOFILE");
    set_rlimit(RLIMIT_FSIZE, p.rlimit_fsize, setup_fd, "RLIMIT_FSIZE");

    /* 7. Fork the workload with every signal we handle blocked, so none is lost. */
    sigset_t watched;
    sigemptyset(&watched);
    int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD };
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(&watched, forwarded[i]);
    if (sigprocmask(SIG_BLOCK, &watched, NULL) != 0) cs_die(setup_fd, CS_STAGE_INIT_SIGNALS, NULL, errno);

    /* 7a. Proxy mode: the egress relay listens on loopback before the command exists. */
    if (p.egress_socket) cs_start_egress_relay(&p, setup_fd);

    spawn_args.plan = &p;
    spawn_args.setup_fd = setup_fd;
    spawn_args.status_fd = status_fd;
    /* vfork semantics: the workload borrows init's memory until it execs (no page-table
       copy of the daemon-sized address space), init waits until then. */
    pid_t child = clone(workload_main, spawn_stack + sizeof spawn_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &spawn_args);
    if (child < 0) cs_die(setup_fd, CS_STAGE_FORK, NULL, errno);

    /* 8. Init proper: only the status pipe stays open; the setup pipe reaches EOF when the command execs. */
    close(setup_fd);
    if (p.stdout_fd >= 0) close(p.stdout_fd);
    if (p.stderr_fd >= 0) close(p.stderr_fd);
    if (p.denial_fd >= 0) close(p.denial_fd);
    drop_init_privileges();
    supervise(child, status_fd, &watched);
}
