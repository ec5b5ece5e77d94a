/*
 * Seccomp denials, made visible. The supervisor compiles the profile's EPERM rules (and its
 * EPERM default) as SECCOMP_RET_USER_NOTIF: the workload loads the filter with a listener,
 * hands the listener to the supervisor over a socket and closes its own copy before execve;
 * the supervisor answers each notification with EPERM, exactly what the rule said, and
 * counts it by syscall. Everything else in the filter stays decided in the kernel.
 */
#include "internal.h"
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/seccomp.h>

int cs_denial_socketpair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds);
}

/* In the workload, after the filter is loaded: async-signal-safe (sendmsg). */
int cs_send_listener(int sock, int listener) {
    return cs_send_with_fds(sock, "L", 1, &listener, 1);
}

int cs_receive_listener(int sock) {
    char byte;
    int fd, n;
    if (cs_receive_with_fds(sock, &byte, 1, &fd, &n, 1, MSG_DONTWAIT) <= 0) return -1;
    if (n != 1) { errno = EPROTO; return -1; }
    return fd;
}

int cs_answer_denial(int listener) {
    /* The kernel's structs may grow: ask their sizes once, and refuse ones past our buffer. */
    static struct seccomp_notif_sizes sizes;
    if (sizes.seccomp_notif == 0 && syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) return -2;
    static union { struct seccomp_notif n; char pad[512]; } req;
    static union { struct seccomp_notif_resp r; char pad[512]; } resp;
    if (sizes.seccomp_notif > sizeof req || sizes.seccomp_notif_resp > sizeof resp) { errno = E2BIG; return -2; }
    memset(&req, 0, sizeof req);   /* RECV insists on a zeroed buffer */
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req.n) != 0) return -1;
    memset(&resp, 0, sizeof resp);
    resp.r.id = req.n.id;
    resp.r.error = -EPERM;
    resp.r.val = 0;
    resp.r.flags = 0;
    /* ENOENT: the caller died meanwhile (e.g. killed); the denial still happened. */
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp.r) != 0 && errno != ENOENT) return -1;
    return req.n.data.nr;
}
