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
    char byte = 'L';
    struct iovec iov = { &byte, 1 };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &listener, sizeof(int));
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

int cs_receive_listener(int sock) {
    char byte;
    struct iovec iov = { &byte, 1 };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT); } while (n < 0 && errno == EINTR);
    if (n <= 0) return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) {
        errno = EPROTO;
        return -1;
    }
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
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
