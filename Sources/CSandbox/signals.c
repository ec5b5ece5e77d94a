/* The signals a foreground `sandbox exec` passes on to its sandbox, as `timeout` does. */
#include "internal.h"
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>

int cs_forwarded_signals_fd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) {
        /* Nobody would read them: leave them deliverable (and fatal) as before. */
        int e = errno;
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        errno = e;
    }
    return fd;
}

int cs_read_signal(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : 0;
}
