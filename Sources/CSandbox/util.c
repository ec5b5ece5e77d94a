/* Small async-signal-safe helpers: error records, strings, mkdir -p, fd closing. */
#include "internal.h"
#include <string.h>
#include <sys/stat.h>
#include <linux/close_range.h>

static const char *const stage_names[CS_STAGE_COUNT] = {
    [CS_STAGE_SYNC] = "wait for supervisor",
    [CS_STAGE_SETGID] = "setresgid",
    [CS_STAGE_SETUID] = "setresuid",
    [CS_STAGE_PDEATHSIG] = "die with supervisor",
    [CS_STAGE_MOUNT_PRIVATE] = "make mounts private",
    [CS_STAGE_BASE_TMPFS] = "mount base tmpfs",
    [CS_STAGE_PIVOT_BASE] = "pivot_root to base",
    [CS_STAGE_ROOT_TMPFS] = "mount root tmpfs",
    [CS_STAGE_BIND] = "bind",
    [CS_STAGE_REMOUNT_RO] = "remount read-only",
    [CS_STAGE_TMPFS] = "mount tmpfs",
    [CS_STAGE_PROC] = "mount /proc",
    [CS_STAGE_DEV] = "set up /dev",
    [CS_STAGE_DEVPTS] = "mount devpts",
    [CS_STAGE_MKDIR] = "mkdir",
    [CS_STAGE_SYMLINK] = "symlink",
    [CS_STAGE_WRITE_FILE] = "write file",
    [CS_STAGE_UMOUNT_OLDROOT] = "detach old root",
    [CS_STAGE_PIVOT_ROOT] = "pivot_root",
    [CS_STAGE_HOSTNAME] = "sethostname",
    [CS_STAGE_LOOPBACK] = "bring up loopback",
    [CS_STAGE_CGROUP_NS] = "unshare cgroup namespace",
    [CS_STAGE_RLIMIT] = "setrlimit",
    [CS_STAGE_FORK] = "fork command",
    [CS_STAGE_SETSID] = "setsid",
    [CS_STAGE_STDIO] = "set up stdio",
    [CS_STAGE_CHDIR] = "chdir",
    [CS_STAGE_CAPS] = "drop capabilities",
    [CS_STAGE_NO_NEW_PRIVS] = "no_new_privs",
    [CS_STAGE_SECCOMP] = "load seccomp filter",
    [CS_STAGE_EXEC] = "execve",
    [CS_STAGE_INIT_SIGNALS] = "init signal mask",
    [CS_STAGE_CGROUP_JOIN] = "join cgroup",
    [CS_STAGE_EGRESS_RELAY] = "start egress relay",
    [CS_STAGE_LAUNCHER] = "launcher",
    [CS_STAGE_CLONE] = "clone (namespaces)",
    [CS_STAGE_ID_MAP] = "write id maps",
    [CS_STAGE_RELEASE] = "release sandbox",
    [CS_STAGE_SPEC] = "spec",
    [CS_STAGE_SECCOMP_PROFILE] = "seccomp profile",
    [CS_STAGE_IDENTITY] = "host uid",
    [CS_STAGE_EGRESS_PROXY] = "egress proxy",
    [CS_STAGE_CGROUP] = "cgroup",
    [CS_STAGE_OUTPUT] = "output",
};

const char *cs_stage_name(int stage) {
    if (stage < 0 || stage >= CS_STAGE_COUNT || !stage_names[stage]) return "unknown stage";
    return stage_names[stage];
}

size_t cs_strlen(const char *s) {
    size_t n = 0;
    if (!s) return 0;
    while (s[n]) n++;
    return n;
}

int cs_join(char *out, size_t cap, const char *a, const char *b) {
    size_t la = cs_strlen(a), lb = cs_strlen(b);
    if (la + lb + 1 > cap) return -1;
    memcpy(out, a, la);
    memcpy(out + la, b, lb);
    out[la + lb] = 0;
    return 0;
}

void cs_die(int setup_fd, int stage, const char *detail, int err) {
    struct cs_error_record rec;
    memset(&rec, 0, sizeof rec);
    rec.stage = stage;
    rec.err = err;
    if (detail) {
        size_t n = cs_strlen(detail);
        if (n >= sizeof rec.detail) n = sizeof rec.detail - 1;
        memcpy(rec.detail, detail, n);
    }
    if (setup_fd >= 0) {
        ssize_t r;
        do { r = write(setup_fd, &rec, sizeof rec); } while (r < 0 && errno == EINTR);
    }
    _exit(stage == CS_STAGE_EXEC ? 127 : 125);
}

int cs_mkdir_p(char *path, unsigned int mode) {
    size_t n = cs_strlen(path);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] == '/' || path[i] == 0) {
            char saved = path[i];
            path[i] = 0;
            int r = mkdir(path, i == n ? mode : 0755);
            int e = errno;
            path[i] = saved;
            if (r < 0 && e != EEXIST) { errno = e; return -1; }
        }
    }
    return 0;
}

static int cmp_int(int a, int b) { return a < b ? -1 : a > b; }

void cs_close_fds_except(const int *keep_in, int nkeep) {
    int keep[16];
    int n = 0;
    for (int i = 0; i < nkeep && n < 16; i++) if (keep_in[i] >= 3) keep[n++] = keep_in[i];
    /* insertion sort: n is tiny */
    for (int i = 1; i < n; i++) {
        int v = keep[i], j = i - 1;
        while (j >= 0 && cmp_int(keep[j], v) > 0) { keep[j + 1] = keep[j]; j--; }
        keep[j + 1] = v;
    }
    unsigned int lo = 3;
    for (int i = 0; i <= n; i++) {
        unsigned int hi = i < n ? (unsigned int)keep[i] : ~0U;
        if (i < n && (unsigned int)keep[i] < lo) continue;
        if (hi > lo) {
            unsigned int last = i < n ? hi - 1 : ~0U;
            if (syscall(SYS_close_range, lo, last, 0) < 0) {
                /* Old kernel: close one by one up to a sane bound. */
                unsigned int stop = i < n ? hi : 65536;
                for (unsigned int fd = lo; fd < stop; fd++) close((int)fd);
            }
        }
        if (i < n) lo = (unsigned int)keep[i] + 1;
    }
}
