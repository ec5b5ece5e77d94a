/*
 * csandbox: the clone/exec path of coven-supervisor's sandbox.
 *
 * Everything that runs between clone() and execve() lives in this C target and is
 * async-signal-safe: no malloc, no stdio, no locks, raw syscalls for credential
 * changes. The Swift side prepares a cs_plan (all memory allocated before the
 * clone), calls cs_launch(), and from then on only talks to the sandbox through
 * file descriptors and signals.
 *
 * Process shape (like bubblewrap's): the daemon clones the sandbox "init" into
 * fresh user/mount/pid/ipc/uts/net namespaces. Init builds the filesystem, then
 * forks the workload (pid 2), which drops every privilege, loads seccomp last and
 * execs the command. Init stays as pid 1: it reaps zombies, forwards SIGTERM & co.
 * to every process in the sandbox, and when the workload exits it writes the
 * workload's wait status to status_fd and ends the sandbox.
 */
#ifndef CSANDBOX_H
#define CSANDBOX_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What one entry of the mount plan does. Destinations are paths inside the sandbox. */
enum cs_mount_kind {
    CS_MOUNT_BIND_RO = 1,   /* read-only bind of a host path (dir or file) */
    CS_MOUNT_BIND_RW = 2,   /* writable bind of a host path */
    CS_MOUNT_TMPFS = 3,     /* tmpfs, `data` holds the options (size=,mode=) */
    CS_MOUNT_PROC = 4,      /* fresh procfs of the sandbox's pid namespace */
    CS_MOUNT_DEV = 5,       /* minimal /dev: null zero full random urandom tty, devpts, shm */
    CS_MOUNT_DIR = 6,       /* an empty directory (mode in `mode`) */
    CS_MOUNT_SYMLINK = 7,   /* symlink dest -> source */
    CS_MOUNT_FILE = 8,      /* a regular file with content `data` (mode in `mode`) */
};

struct cs_mount {
    int kind;
    const char *source;     /* host path (binds) or link target (symlink) */
    const char *dest;       /* absolute path inside the sandbox */
    const char *data;       /* tmpfs options or file content; may be NULL */
    unsigned int mode;      /* for DIR / FILE */
    int optional;           /* binds: skip silently when the source does not exist */
};

/* Every step a sandbox's set-up can fail at: the supervisor's own steps (spec, seccomp
 * profile, host uid, egress proxy, cgroup) and those of the launcher and of init, in one
 * list. Swift sees it as the enum `SetupStage` (closed: a failure always names one of
 * these), so a failure carries its stage as a value, never as text parsed back. */
#define CS_SWIFT_NAME(n) __attribute__((swift_name(n)))
enum __attribute__((enum_extensibility(closed))) CS_SWIFT_NAME("SetupStage") cs_stage {
    CS_STAGE_SYNC CS_SWIFT_NAME("waitForSupervisor") = 0,
    CS_STAGE_SETGID CS_SWIFT_NAME("setgid"),
    CS_STAGE_SETUID CS_SWIFT_NAME("setuid"),
    CS_STAGE_PDEATHSIG CS_SWIFT_NAME("dieWithSupervisor"),
    CS_STAGE_MOUNT_PRIVATE CS_SWIFT_NAME("mountPrivate"),
    CS_STAGE_BASE_TMPFS CS_SWIFT_NAME("baseTmpfs"),
    CS_STAGE_PIVOT_BASE CS_SWIFT_NAME("pivotBase"),
    CS_STAGE_ROOT_TMPFS CS_SWIFT_NAME("rootTmpfs"),
    CS_STAGE_BIND CS_SWIFT_NAME("bind"),
    CS_STAGE_REMOUNT_RO CS_SWIFT_NAME("remountReadOnly"),
    CS_STAGE_TMPFS CS_SWIFT_NAME("tmpfs"),
    CS_STAGE_PROC CS_SWIFT_NAME("proc"),
    CS_STAGE_DEV CS_SWIFT_NAME("dev"),
    CS_STAGE_DEVPTS CS_SWIFT_NAME("devpts"),
    CS_STAGE_MKDIR CS_SWIFT_NAME("mkdir"),
    CS_STAGE_SYMLINK CS_SWIFT_NAME("symlink"),
    CS_STAGE_WRITE_FILE CS_SWIFT_NAME("writeFile"),
    CS_STAGE_UMOUNT_OLDROOT CS_SWIFT_NAME("detachOldRoot"),
    CS_STAGE_PIVOT_ROOT CS_SWIFT_NAME("pivotRoot"),
    CS_STAGE_HOSTNAME CS_SWIFT_NAME("hostname"),
    CS_STAGE_LOOPBACK CS_SWIFT_NAME("loopback"),
    CS_STAGE_CGROUP_NS CS_SWIFT_NAME("cgroupNamespace"),
    CS_STAGE_RLIMIT CS_SWIFT_NAME("rlimit"),
    CS_STAGE_FORK CS_SWIFT_NAME("forkCommand"),
    CS_STAGE_SETSID CS_SWIFT_NAME("setsid"),
    CS_STAGE_STDIO CS_SWIFT_NAME("stdio"),
    CS_STAGE_CHDIR CS_SWIFT_NAME("chdir"),
    CS_STAGE_CAPS CS_SWIFT_NAME("dropCapabilities"),
    CS_STAGE_NO_NEW_PRIVS CS_SWIFT_NAME("noNewPrivileges"),
    CS_STAGE_SECCOMP CS_SWIFT_NAME("seccomp"),
    CS_STAGE_EXEC CS_SWIFT_NAME("exec"),
    CS_STAGE_INIT_SIGNALS CS_SWIFT_NAME("initSignals"),
    CS_STAGE_EGRESS_RELAY CS_SWIFT_NAME("egressRelay"),
    /* init moves itself into its v1 cgroups; the launcher clones into / joins the v2 one */
    CS_STAGE_CGROUP_JOIN CS_SWIFT_NAME("cgroupJoin"),
    /* the launcher (supervisor side of the clone) */
    CS_STAGE_LAUNCHER CS_SWIFT_NAME("launcher"),          /* launcher thread, pipes */
    CS_STAGE_CLONE CS_SWIFT_NAME("clone"),                /* clone with the namespace flags */
    CS_STAGE_ID_MAP CS_SWIFT_NAME("idMap"),               /* setgroups, uid_map, gid_map */
    CS_STAGE_RELEASE CS_SWIFT_NAME("release"),            /* releasing the child */
    /* the supervisor's steps before the clone (Swift) */
    CS_STAGE_SPEC CS_SWIFT_NAME("spec"),
    CS_STAGE_SECCOMP_PROFILE CS_SWIFT_NAME("seccompProfile"),
    CS_STAGE_IDENTITY CS_SWIFT_NAME("identity"),          /* a host uid lease */
    CS_STAGE_EGRESS_PROXY CS_SWIFT_NAME("egressProxy"),
    CS_STAGE_CGROUP CS_SWIFT_NAME("cgroup"),              /* making the cgroup, applying limits */
    CS_STAGE_OUTPUT CS_SWIFT_NAME("output"),              /* output pipes and sinks */
};
enum { CS_STAGE_COUNT = CS_STAGE_OUTPUT + 1 };

/* Returns a short name for a stage ("mount /proc" style phrases). */
const char *cs_stage_name(int stage);

/* The record a sandbox writes to the setup pipe when it fails before execve. */
struct cs_error_record {
    int32_t stage;
    int32_t err;
    char detail[248];       /* e.g. the destination path; NUL-terminated */
};

struct cs_plan {
    int clone_flags;             /* CLONE_NEW* namespace flags (user, mount, pid, ipc, uts, net) */
    int unshare_cgroup;          /* unshare(CLONE_NEWCGROUP) after joining the cgroup */
    int net_loopback;            /* bring `lo` up (own net namespace) */

    /* Egress relay (network `proxy` mode). When egress_socket is set, init listens on
     * 127.0.0.1:egress_port inside the sandbox's net namespace before the command
     * starts and forks a relay that connects each client to the unix socket at
     * egress_socket (a path inside the sandbox, bind-mounted from the host), copying
     * both ways. NULL = no relay. */
    const char *egress_socket;
    int egress_port;

    uid_t inner_uid; gid_t inner_gid;   /* ids inside the sandbox (1000) */
    uid_t host_uid; gid_t host_gid;     /* what they map to on the host */

    const char *root_tmpfs_options;     /* options of the fresh root tmpfs */
    const struct cs_mount *mounts;
    int nmounts;

    const char *hostname;
    const char *cwd;
    char *const *argv;           /* NULL-terminated */
    char *const *envp;           /* NULL-terminated */
    const char *path_search;     /* PATH used to find argv[0] when it has no '/' */

    const void *seccomp_filter;  /* struct sock_filter[], or NULL for none */
    unsigned short seccomp_len;  /* number of instructions */
    /* The filter's EPERM rules are SECCOMP_RET_USER_NOTIF: the workload loads it with a
     * listener and sends that over this socket (SCM_RIGHTS) before execve. -1: no listener
     * (the filter then has no USER_NOTIF rules). */
    int denial_fd;

    int64_t rlimit_core;         /* -1 = leave as inherited */
    int64_t rlimit_nofile;
    int64_t rlimit_fsize;

    int stdout_fd;               /* host fds that become the command's stdout / stderr */
    int stderr_fd;

    const char *const *cgroup_procs;   /* cgroup.procs files the launcher writes the pid into */
    int ncgroup_procs;
    /* cgroup v1: `tasks` files opened (O_WRONLY) by the supervisor; init writes "0" to each
     * to move itself. Migrating the calling thread skips the kernel's global threadgroup
     * lock (an RCU grace period, tens of ms on an idle host) that a pid write takes; the
     * permission check uses the opener's credentials. At most 8. */
    const int *cgroup_join_fds;
    int ncgroup_join_fds;
    /* cgroup v2: an fd of the sandbox's cgroup directory, or -1. The child is then created
     * in it (clone3 CLONE_INTO_CGROUP, no migration and no global lock); on kernels without
     * it, the launcher falls back to clone + writing the pid to cgroup_procs. */
    int cgroup_dir_fd;
};

/* How a v2 sandbox got into its cgroup (cs_child.cgroup_entry). */
enum {
    CS_CGROUP_ENTRY_NONE = 0,     /* no cgroup fd given (v1, or no cgroup) */
    CS_CGROUP_ENTRY_CLONE3 = 1,   /* born in it: clone3(CLONE_INTO_CGROUP) */
    CS_CGROUP_ENTRY_PID_WRITE = 2 /* clone3 refused: pid written to cgroup.procs before release */
};

struct cs_child {
    int cloned_into_cgroup;   /* 1 when the child was born in cgroup_dir_fd (no migration) */
    int cgroup_entry;         /* CS_CGROUP_ENTRY_* */
    pid_t pid;        /* host pid of the sandbox init */
    int pidfd;        /* pidfd of init (poll: readable when it exited), -1 if unsupported */
    int setup_fd;     /* read end: a cs_error_record on failure, EOF once the command exec'd */
    int status_fd;    /* read end: the command's int32 wait status, written by init */
    int mntns_fd;     /* the sandbox's mount namespace, held so that its teardown (unmounting
                         everything, an RCU grace period) happens when this is closed, not in
                         init's exit before its parent hears of it; -1 if none */
};

/*
 * Launch a sandbox. Runs the clone on a dedicated, never-exiting launcher thread
 * (so PR_SET_PDEATHSIG, which fires when the *thread* that forked exits, means
 * "when the daemon dies"). Blocks until the child is mapped, in its cgroups and
 * released. Returns 0, or -1 with `err` holding the failed stage, its errno and a
 * detail (errno is set too).
 */
int cs_launch(const struct cs_plan *plan, struct cs_child *out, struct cs_error_record *err);

/* Namespace flags (the values of CLONE_NEW*, which need _GNU_SOURCE to be visible). */
enum {
    CS_NEWNS = 0x00020000, CS_NEWCGROUP = 0x02000000, CS_NEWUTS = 0x04000000, CS_NEWIPC = 0x08000000,
    CS_NEWUSER = 0x10000000, CS_NEWPID = 0x20000000, CS_NEWNET = 0x40000000,
};

/* Most connections the egress relay carries at once (more wait in the listen backlog). */
enum { CS_RELAY_MAX_CONNECTIONS = 64 };

/* Keep `count` network namespaces ready (root only; 0 turns it off). For long-lived
 * processes that launch many sandboxes: the daemon, the in-process benchmark. */
void cs_set_netns_pool(int count);
/* How many are ready now (for tests). */
int cs_netns_pool_ready(void);

/* The launcher process (zygote.c): a small executable (coven-sandbox-zygote) started
 * once, that clones every sandbox from its own small address space instead of the
 * caller's, for long-lived processes that launch many sandboxes (the daemon). Start it
 * once; cs_launch then goes through it, and in-process whenever it is not running (or a
 * plan is too large for one message). 0, or -1 with errno (ENOEXEC: it did not start). */
int cs_zygote_start(const char *path);
/* Send launches to the launcher process (1, the default once started) or keep them in
 * this process (0): for benchmarks that compare the two. */
void cs_zygote_enable(int on);
/* 1 while launches go through a running launcher process. */
int cs_zygote_active(void);
/* The launcher process's main: its socket is fd 3, the daemon's lifeline fd 4. */
int cs_zygote_main(void);

/* Helpers for the Swift side. */
/* pipe2 with O_CLOEXEC (and O_NONBLOCK on both ends when nonblock). */
int cs_pipe(int fds[2], int nonblock);
int cs_pidfd_open(pid_t pid);
int cs_pidfd_send_signal(int pidfd, int sig);
/* Blocks SIGTERM, SIGINT, SIGHUP and SIGQUIT in the calling thread (threads started after
 * inherit the mask; the launcher blocks everything anyway) and returns a non-blocking
 * signalfd that receives them, or -1. For a foreground process that passes them on. */
int cs_forwarded_signals_fd(void);
/* One signal read from that fd: its number, or 0 when none is pending. */
int cs_read_signal(int fd);
/* Seccomp denials (denials.c). A SEQPACKET socket pair, close-on-exec. */
int cs_denial_socketpair(int fds[2]);
/* The listener the workload sent on `sock`, or -1 (errno EAGAIN: not yet). */
int cs_receive_listener(int sock);
/* Answers one pending notification of `listener` with EPERM: returns its syscall number,
 * -1 when none could be read (errno), -2 when the kernel's structs are not understood. */
int cs_answer_denial(int listener);
/* accept4 with SOCK_CLOEXEC. */
int cs_accept(int fd);
/* The uid and pid of a unix-socket peer (SO_PEERCRED); 0 or -1. */
int cs_peer_cred(int fd, uid_t *uid, pid_t *pid);
/* wait4 on pid; returns pid or -1; fills status and user+sys cpu seconds. */
pid_t cs_wait(pid_t pid, int *status, double *cpu_seconds, int nohang);

#ifdef __cplusplus
}
#endif
#endif
