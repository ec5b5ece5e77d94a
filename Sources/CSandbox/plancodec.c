/*
 * A cs_plan as one flat message, for the launcher process (zygote.c). The daemon packs
 * it; the zygote unpacks it in place in its receive buffer. Pointers travel as offsets
 * from the start of the message (0 = NULL), file descriptors as indices into the
 * message's SCM_RIGHTS array (-1 stays -1). Packing runs in the daemon's own thread
 * (malloc is fine there); unpacking only adds and checks offsets.
 */
#include "internal.h"
#include "zygote.h"
#include <stdlib.h>
#include <string.h>

struct packer {
    char *buf;
    size_t len, cap;
    int *fds;
    int nfds;
    int failed;
};

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Appends n bytes (8-aligned); returns their offset, 0 when failed. */
static size_t put(struct packer *pk, const void *data, size_t n) {
    size_t at = align8(pk->len);
    if (pk->failed || at + n > CS_ZYGOTE_MAX_MESSAGE) { pk->failed = 1; return 0; }
    if (at + n > pk->cap) {
        size_t cap = pk->cap ? pk->cap : 16384;
        while (cap < at + n) cap *= 2;
        char *b = realloc(pk->buf, cap);
        if (!b) { pk->failed = 1; return 0; }
        memset(b + pk->cap, 0, cap - pk->cap);
        pk->buf = b;
        pk->cap = cap;
    }
    if (data) memcpy(pk->buf + at, data, n);
    pk->len = at + n;
    return at;
}

static uintptr_t put_string(struct packer *pk, const char *s) {
    return s ? (uintptr_t)put(pk, s, strlen(s) + 1) : 0;
}

/* An array of n strings, plus a NULL entry when terminated. */
static uintptr_t put_strings(struct packer *pk, const char *const *v, int n, int terminated) {
    if (!v) return 0;
    size_t at = put(pk, NULL, sizeof(uintptr_t) * (size_t)(n + (terminated ? 1 : 0)));
    for (int i = 0; i < n && !pk->failed; i++) {
        uintptr_t off = put_string(pk, v[i]);
        ((uintptr_t *)(pk->buf + at))[i] = off;   /* after put_string: buf may have moved */
    }
    return (uintptr_t)at;
}

static int put_fd(struct packer *pk, int fd) {
    if (fd < 0) return -1;
    if (pk->nfds >= CS_ZYGOTE_MAX_FDS) { pk->failed = 1; return -1; }
    pk->fds[pk->nfds] = fd;
    return pk->nfds++;
}

int cs_plan_pack(const struct cs_plan *plan, char **out, size_t *len, int *fds, int *nfds) {
    struct packer pk = { NULL, 0, 0, fds, 0, 0 };
    size_t head = put(&pk, NULL, sizeof(struct cs_zygote_request));
    struct cs_plan p = *plan;
    /* Every pointer is replaced below; one left out would travel as a daemon address. */
    p.mounts = NULL;
    p.seccomp_filter = NULL;
    p.cgroup_join_fds = NULL;
    int argc = 0, envc = 0;
    while (plan->argv && plan->argv[argc]) argc++;
    while (plan->envp && plan->envp[envc]) envc++;

    p.egress_socket = (const char *)put_string(&pk, plan->egress_socket);
    p.root_tmpfs_options = (const char *)put_string(&pk, plan->root_tmpfs_options);
    p.hostname = (const char *)put_string(&pk, plan->hostname);
    p.cwd = (const char *)put_string(&pk, plan->cwd);
    p.path_search = (const char *)put_string(&pk, plan->path_search);
    p.argv = (char *const *)put_strings(&pk, (const char *const *)plan->argv, argc, 1);
    p.envp = (char *const *)put_strings(&pk, (const char *const *)plan->envp, envc, 1);
    p.cgroup_procs = (const char *const *)put_strings(&pk, plan->cgroup_procs, plan->ncgroup_procs, 0);
    if (plan->seccomp_filter && plan->seccomp_len > 0)
        p.seccomp_filter = (const void *)(uintptr_t)put(&pk, plan->seccomp_filter, (size_t)plan->seccomp_len * 8);
    if (plan->nmounts > 0) {
        size_t at = put(&pk, NULL, sizeof(struct cs_mount) * (size_t)plan->nmounts);
        for (int i = 0; i < plan->nmounts && !pk.failed; i++) {
            struct cs_mount m = plan->mounts[i];
            m.source = (const char *)put_string(&pk, m.source);
            m.dest = (const char *)put_string(&pk, m.dest);
            m.data = (const char *)put_string(&pk, m.data);
            if (!pk.failed) memcpy(pk.buf + at + sizeof m * (size_t)i, &m, sizeof m);
        }
        p.mounts = (const struct cs_mount *)(uintptr_t)at;
    }
    p.stdout_fd = put_fd(&pk, plan->stdout_fd);
    p.stderr_fd = put_fd(&pk, plan->stderr_fd);
    p.denial_fd = put_fd(&pk, plan->denial_fd);
    p.cgroup_dir_fd = put_fd(&pk, plan->cgroup_dir_fd);
    if (plan->ncgroup_join_fds > 0) {
        int idx[CS_ZYGOTE_MAX_FDS];
        int n = plan->ncgroup_join_fds;
        if (n > CS_ZYGOTE_MAX_FDS) { n = 0; pk.failed = 1; }
        for (int i = 0; i < n; i++) idx[i] = put_fd(&pk, plan->cgroup_join_fds[i]);
        p.cgroup_join_fds = (const int *)(uintptr_t)put(&pk, idx, sizeof(int) * (size_t)n);
    }
    if (pk.failed) { free(pk.buf); errno = EMSGSIZE; return -1; }
    struct cs_zygote_request req;
    memset(&req, 0, sizeof req);
    req.kind = CS_ZYGOTE_LAUNCH;
    req.size = (uint32_t)pk.len;
    req.plan = p;
    memcpy(pk.buf + head, &req, sizeof req);
    *out = pk.buf;
    *len = pk.len;
    *nfds = pk.nfds;
    return 0;
}

/* Offset -> pointer, checked to lie inside the message with room for `need` bytes. */
static int rebase(char *base, size_t len, uintptr_t off, size_t need, void **out) {
    if (off == 0) { *out = NULL; return 0; }
    if (off >= len || need > len - off) return -1;
    *out = base + off;
    return 0;
}

static int rebase_string(char *base, size_t len, const char **field) {
    void *p;
    if (rebase(base, len, (uintptr_t)*field, 1, &p) != 0) return -1;
    if (p && !memchr(p, 0, len - (size_t)((char *)p - base))) return -1;
    *field = p;
    return 0;
}

static int rebase_strings(char *base, size_t len, uintptr_t off, int n, int terminated, void **out) {
    void *p;
    if (n < 0 || rebase(base, len, off, sizeof(uintptr_t) * (size_t)(n + (terminated ? 1 : 0)), &p) != 0) return -1;
    if (!p) { *out = NULL; return 0; }
    const char **v = p;
    for (int i = 0; i < n; i++) if (!v[i] || rebase_string(base, len, &v[i]) != 0) return -1;
    if (terminated) v[n] = NULL;
    *out = p;
    return 0;
}

static int fd_at(const int *fds, int nfds, int index) {
    if (index < 0) return -1;
    return index < nfds ? fds[index] : -2;
}

/* Counts a NULL-terminated array's entries inside the message (they are offsets still). */
static int count_terminated(char *base, size_t len, uintptr_t off) {
    if (off == 0) return 0;
    int n = 0;
    for (;;) {
        void *p;
        if (rebase(base, len, off + sizeof(uintptr_t) * (size_t)n, sizeof(uintptr_t), &p) != 0) return -1;
        if (*(uintptr_t *)p == 0) return n;
        n++;
    }
}

int cs_plan_unpack(char *buf, size_t len, const int *fds, int nfds, struct cs_plan *out) {
    if (len < sizeof(struct cs_zygote_request)) return -1;
    struct cs_zygote_request *req = (struct cs_zygote_request *)buf;
    if (req->size != len) return -1;
    struct cs_plan p = req->plan;
    void *v;
    if (rebase_string(buf, len, &p.egress_socket) || rebase_string(buf, len, &p.root_tmpfs_options)
        || rebase_string(buf, len, &p.hostname) || rebase_string(buf, len, &p.cwd)
        || rebase_string(buf, len, &p.path_search)) return -1;
    int argc = count_terminated(buf, len, (uintptr_t)p.argv), envc = count_terminated(buf, len, (uintptr_t)p.envp);
    if (argc < 0 || envc < 0) return -1;
    if (rebase_strings(buf, len, (uintptr_t)p.argv, argc, 1, &v)) return -1;
    p.argv = v;
    if (rebase_strings(buf, len, (uintptr_t)p.envp, envc, 1, &v)) return -1;
    p.envp = v;
    if (rebase_strings(buf, len, (uintptr_t)p.cgroup_procs, p.ncgroup_procs, 0, &v)) return -1;
    p.cgroup_procs = v;
    if (rebase(buf, len, (uintptr_t)p.seccomp_filter, (size_t)p.seccomp_len * 8, &v)) return -1;
    p.seccomp_filter = v;
    if (p.nmounts < 0 || rebase(buf, len, (uintptr_t)p.mounts, sizeof(struct cs_mount) * (size_t)p.nmounts, &v)) return -1;
    p.mounts = v;
    for (int i = 0; i < p.nmounts; i++) {
        struct cs_mount *m = (struct cs_mount *)v + i;
        if (rebase_string(buf, len, &m->source) || rebase_string(buf, len, &m->dest) || rebase_string(buf, len, &m->data))
            return -1;
    }
    p.stdout_fd = fd_at(fds, nfds, p.stdout_fd);
    p.stderr_fd = fd_at(fds, nfds, p.stderr_fd);
    p.denial_fd = fd_at(fds, nfds, p.denial_fd);
    p.cgroup_dir_fd = fd_at(fds, nfds, p.cgroup_dir_fd);
    if (p.stdout_fd == -2 || p.stderr_fd == -2 || p.denial_fd == -2 || p.cgroup_dir_fd == -2) return -1;
    if (p.ncgroup_join_fds < 0 || p.ncgroup_join_fds > CS_ZYGOTE_MAX_FDS
        || rebase(buf, len, (uintptr_t)p.cgroup_join_fds, sizeof(int) * (size_t)p.ncgroup_join_fds, &v)) return -1;
    if (v) {
        int *join = v;
        for (int i = 0; i < p.ncgroup_join_fds; i++) if ((join[i] = fd_at(fds, nfds, join[i])) < 0) return -1;
    }
    p.cgroup_join_fds = v;
    *out = p;
    return 0;
}
