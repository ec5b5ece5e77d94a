/*
 * The sandbox filesystem, bubblewrap-style: a private mount namespace, a tmpfs
 * base that we pivot into (old root at /oldroot so bind sources stay reachable),
 * a fresh root tmpfs at /newroot filled from the mount plan, then /newroot becomes "/"
 * and the base, with the old root under it, is detached. Each step fails with its own
 * stage.
 */
#include "internal.h"
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#define PATH_CAP 4096
#define OLDROOT "/oldroot"
#define NEWROOT "/newroot"

static char src_buf[PATH_CAP];
static char dst_buf[PATH_CAP];
static char tmp_buf[PATH_CAP];

static const char *in_new_root(const char *dest, int setup_fd) {
    if (cs_join(dst_buf, sizeof dst_buf, NEWROOT, dest) < 0) cs_die(setup_fd, CS_STAGE_MKDIR, dest, ENAMETOOLONG);
    return dst_buf;
}

static const char *in_old_root(const char *src, int setup_fd) {
    if (cs_join(src_buf, sizeof src_buf, OLDROOT, src) < 0) cs_die(setup_fd, CS_STAGE_BIND, src, ENAMETOOLONG);
    return src_buf;
}

/* Creates the parent directories of dst (inside the new root). */
static void make_parents(const char *dst, const char *dest_for_error, int setup_fd) {
    size_t n = cs_strlen(dst);
    if (n >= sizeof tmp_buf) cs_die(setup_fd, CS_STAGE_MKDIR, dest_for_error, ENAMETOOLONG);
    memcpy(tmp_buf, dst, n + 1);
    while (n > 0 && tmp_buf[n] != '/') n--;
    if (n == 0) return;
    tmp_buf[n] = 0;
    struct stat st;
    if (stat(tmp_buf, &st) == 0 && S_ISDIR(st.st_mode)) return;
    if (cs_mkdir_p(tmp_buf, 0755) < 0) cs_die(setup_fd, CS_STAGE_MKDIR, dest_for_error, errno);
}

static void make_dir(const char *dst, unsigned int mode, const char *dest_for_error, int setup_fd) {
    if (mkdir(dst, mode) == 0) return;          /* the common case: the parent exists */
    size_t n = cs_strlen(dst);
    if (n >= sizeof tmp_buf) cs_die(setup_fd, CS_STAGE_MKDIR, dest_for_error, ENAMETOOLONG);
    memcpy(tmp_buf, dst, n + 1);
    if (cs_mkdir_p(tmp_buf, mode) < 0) cs_die(setup_fd, CS_STAGE_MKDIR, dest_for_error, errno);
}

static void make_file(const char *dst, const char *dest_for_error, int setup_fd) {
    struct stat st;
    if (lstat(dst, &st) == 0 && !S_ISDIR(st.st_mode)) return;   /* a mount point already there (e.g. in a read-only bind) */
    make_parents(dst, dest_for_error, setup_fd);
    int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno != EEXIST) cs_die(setup_fd, CS_STAGE_MKDIR, dest_for_error, errno);
    if (fd >= 0) close(fd);
}

/* Flags the kernel insists we keep on a bind remount inside a user namespace. */
static unsigned long locked_flags(const char *path) {
    struct statvfs sv;
    unsigned long f = 0;
    if (statvfs(path, &sv) != 0) return 0;
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

static void bind_mount(const struct cs_mount *m, int setup_fd, int allow_dev) {
    const char *src = in_old_root(m->source, setup_fd);
    struct stat st;
    if (stat(src, &st) != 0) {
        if (m->optional && errno == ENOENT) return;
        cs_die(setup_fd, CS_STAGE_BIND, m->source, errno);
    }
    const char *dst = in_new_root(m->dest, setup_fd);
    if (S_ISDIR(st.st_mode)) make_dir(dst, 0755, m->dest, setup_fd);
    else make_file(dst, m->dest, setup_fd);
    if (mount(src, dst, NULL, MS_BIND, NULL) != 0) cs_die(setup_fd, CS_STAGE_BIND, m->dest, errno);
    unsigned long flags = MS_REMOUNT | MS_BIND | locked_flags(dst) | MS_NOSUID;
    if (!allow_dev) flags |= MS_NODEV;
    if (m->kind == CS_MOUNT_BIND_RO) flags |= MS_RDONLY;
    if (mount(NULL, dst, NULL, flags, NULL) != 0) cs_die(setup_fd, CS_STAGE_REMOUNT_RO, m->dest, errno);
}

static void tmpfs_mount(const char *dst, const char *options, const char *dest_for_error, int setup_fd, int stage) {
    make_dir(dst, 0755, dest_for_error, setup_fd);
    if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) cs_die(setup_fd, stage, dest_for_error, errno);
}

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

/* A minimal /dev: tmpfs holding binds of a few host nodes, a private devpts, shm, and the usual links. */
/* devpts and shm on top of a /dev (prepared or built). */
static void dev_pts_and_shm(const char *base, int setup_fd) {
    char node[PATH_CAP];
    cs_join(node, sizeof node, base, "/pts");
    if (mount("devpts", node, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620") != 0)
        cs_die(setup_fd, CS_STAGE_DEVPTS, "/dev/pts", errno);
    cs_join(node, sizeof node, base, "/shm");
    if (mount("tmpfs", node, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=67108864") != 0)
        cs_die(setup_fd, CS_STAGE_DEV, "/dev/shm", errno);
}

static void dev_mount(const struct cs_mount *m, int setup_fd) {
    char base[PATH_CAP];
    char node[PATH_CAP];
    const char *dst = in_new_root(m->dest, setup_fd);
    size_t bl = cs_strlen(dst);
    if (bl + 32 >= sizeof base) cs_die(setup_fd, CS_STAGE_DEV, m->dest, ENAMETOOLONG);
    memcpy(base, dst, bl + 1);
    make_dir(base, 0755, m->dest, setup_fd);
    if (m->source) {
        /* A host directory the supervisor prepared (device nodes, pts/ and shm/ mount
           points, the usual links): one read-only bind instead of a bind per node. */
        const char *src = in_old_root(m->source, setup_fd);
        if (mount(src, base, NULL, MS_BIND, NULL) != 0) cs_die(setup_fd, CS_STAGE_DEV, m->dest, errno);
        unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC | locked_flags(base);
        if (mount(NULL, base, NULL, flags & ~(unsigned long)MS_NODEV, NULL) != 0) cs_die(setup_fd, CS_STAGE_DEV, m->dest, errno);
        dev_pts_and_shm(base, setup_fd);
        return;
    }
    if (mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=65536") != 0)
        cs_die(setup_fd, CS_STAGE_DEV, m->dest, errno);
    for (size_t i = 0; i < sizeof dev_nodes / sizeof dev_nodes[0]; i++) {
        char hostpath[64];
        cs_join(hostpath, sizeof hostpath, OLDROOT "/dev/", dev_nodes[i]);
        cs_join(node, sizeof node, base, "/");
        cs_join(node, sizeof node, node, dev_nodes[i]);
        int fd = open(node, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0) cs_die(setup_fd, CS_STAGE_DEV, node + cs_strlen(NEWROOT), errno);
        close(fd);
        if (mount(hostpath, node, NULL, MS_BIND, NULL) != 0) cs_die(setup_fd, CS_STAGE_DEV, node + cs_strlen(NEWROOT), errno);
        unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC | locked_flags(node);
        if (mount(NULL, node, NULL, flags, NULL) != 0)
            cs_die(setup_fd, CS_STAGE_DEV, node + cs_strlen(NEWROOT), errno);
    }
    cs_join(node, sizeof node, base, "/pts");
    if (mkdir(node, 0755) != 0) cs_die(setup_fd, CS_STAGE_DEVPTS, "/dev/pts", errno);
    cs_join(node, sizeof node, base, "/shm");
    if (mkdir(node, 01777) != 0) cs_die(setup_fd, CS_STAGE_DEV, "/dev/shm", errno);
    dev_pts_and_shm(base, setup_fd);
    static const char *const links[][2] = {
        { "ptmx", "pts/ptmx" }, { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
        { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        cs_join(node, sizeof node, base, "/");
        cs_join(node, sizeof node, node, links[i][0]);
        if (symlink(links[i][1], node) != 0) cs_die(setup_fd, CS_STAGE_DEV, links[i][0], errno);
    }
}

static void write_file(const struct cs_mount *m, int setup_fd) {
    const char *dst = in_new_root(m->dest, setup_fd);
    make_parents(dst, m->dest, setup_fd);
    int fd = open(dst, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, m->mode ? m->mode : 0644);
    if (fd < 0) cs_die(setup_fd, CS_STAGE_WRITE_FILE, m->dest, errno);
    const char *data = m->data ? m->data : "";
    size_t left = cs_strlen(data);
    while (left > 0) {
        ssize_t w = write(fd, data, left);
        if (w < 0) { if (errno == EINTR) continue; cs_die(setup_fd, CS_STAGE_WRITE_FILE, m->dest, errno); }
        data += w; left -= (size_t)w;
    }
    close(fd);
}

static void apply_mount(const struct cs_mount *m, int setup_fd) {
    switch (m->kind) {
    case CS_MOUNT_BIND_RO:
    case CS_MOUNT_BIND_RW:
        bind_mount(m, setup_fd, 0);
        break;
    case CS_MOUNT_TMPFS:
        tmpfs_mount(in_new_root(m->dest, setup_fd), m->data, m->dest, setup_fd, CS_STAGE_TMPFS);
        break;
    case CS_MOUNT_PROC: {
        const char *dst = in_new_root(m->dest, setup_fd);
        make_dir(dst, 0555, m->dest, setup_fd);
        if (mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
            cs_die(setup_fd, CS_STAGE_PROC, m->dest, errno);
        break;
    }
    case CS_MOUNT_DEV:
        dev_mount(m, setup_fd);
        break;
    case CS_MOUNT_DIR:
        make_dir(in_new_root(m->dest, setup_fd), m->mode ? m->mode : 0755, m->dest, setup_fd);
        break;
    case CS_MOUNT_SYMLINK: {
        const char *dst = in_new_root(m->dest, setup_fd);
        make_parents(dst, m->dest, setup_fd);
        if (symlink(m->source, dst) != 0) cs_die(setup_fd, CS_STAGE_SYMLINK, m->dest, errno);
        break;
    }
    case CS_MOUNT_FILE:
        write_file(m, setup_fd);
        break;
    default:
        cs_die(setup_fd, CS_STAGE_MKDIR, m->dest, EINVAL);
    }
}

void cs_setup_filesystem(const struct cs_plan *p, int setup_fd) {
    /* Nothing we do may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) cs_die(setup_fd, CS_STAGE_MOUNT_PRIVATE, "/", errno);

    /* Base: a tmpfs we pivot into, keeping the old root reachable at /oldroot. */
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=65536") != 0)
        cs_die(setup_fd, CS_STAGE_BASE_TMPFS, "/tmp", errno);
    if (mkdir("/tmp" OLDROOT, 0755) != 0 || mkdir("/tmp" NEWROOT, 0755) != 0)
        cs_die(setup_fd, CS_STAGE_BASE_TMPFS, "/tmp", errno);
    if (syscall(SYS_pivot_root, "/tmp", "/tmp" OLDROOT) != 0) cs_die(setup_fd, CS_STAGE_PIVOT_BASE, "/tmp", errno);
    if (chdir("/") != 0) cs_die(setup_fd, CS_STAGE_PIVOT_BASE, "/", errno);

    /* The sandbox's root: a fresh tmpfs, filled from the plan. */
    if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV,
              p->root_tmpfs_options ? p->root_tmpfs_options : "mode=0755,size=1048576") != 0)
        cs_die(setup_fd, CS_STAGE_ROOT_TMPFS, "/", errno);
    for (int i = 0; i < p->nmounts; i++) apply_mount(&p->mounts[i], setup_fd);

    /* The root itself is read-only: the command writes only where the plan says. */
    if (mount(NULL, NEWROOT, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        cs_die(setup_fd, CS_STAGE_REMOUNT_RO, "/", errno);

    /* /newroot becomes "/", the base (stacked on it by pivot_root(".", ".")) is detached
     * together with the host tree still mounted at its /oldroot: one recursive detach, so
     * one RCU grace period instead of two (bubblewrap detaches /oldroot first). */
    if (chdir(NEWROOT) != 0) cs_die(setup_fd, CS_STAGE_PIVOT_ROOT, "/", errno);
    if (syscall(SYS_pivot_root, ".", ".") != 0) cs_die(setup_fd, CS_STAGE_PIVOT_ROOT, "/", errno);
    if (umount2(".", MNT_DETACH) != 0) cs_die(setup_fd, CS_STAGE_UMOUNT_OLDROOT, "/ (the host's tree)", errno);
    if (chdir("/") != 0) cs_die(setup_fd, CS_STAGE_PIVOT_ROOT, "/", errno);
}
