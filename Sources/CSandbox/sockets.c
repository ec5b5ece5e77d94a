/* Socket helpers whose glibc declarations need _GNU_SOURCE (not visible to Swift). */
#include "internal.h"
#include <sys/socket.h>

int cs_accept(int fd) {
    int r;
    do { r = accept4(fd, NULL, NULL, SOCK_CLOEXEC); } while (r < 0 && errno == EINTR);
    return r;
}

int cs_peer_cred(int fd, uid_t *uid, pid_t *pid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    if (uid) *uid = cred.uid;
    if (pid) *pid = cred.pid;
    return 0;
}
