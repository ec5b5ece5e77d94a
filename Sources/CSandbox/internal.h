/* Internal helpers shared by the C files of the clone/exec path. All async-signal-safe. */
#ifndef CSANDBOX_INTERNAL_H
#define CSANDBOX_INTERNAL_H
#define _GNU_SOURCE
#include "csandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>

/* Report a failed stage on the setup pipe and end the process. */
__attribute__((noreturn)) void cs_die(int setup_fd, int stage, const char *detail, int err);

/* String helpers that never allocate. */
size_t cs_strlen(const char *s);
/* Joins a and b into out (cap bytes); returns 0 or -1 when it does not fit. */
int cs_join(char *out, size_t cap, const char *a, const char *b);

/* mkdir -p of an absolute path (creating parents with 0755). */
int cs_mkdir_p(char *path, unsigned int mode);

/* Build the sandbox filesystem and pivot into it. Returns only on success. */
void cs_setup_filesystem(const struct cs_plan *p, int setup_fd);

/* Bring the loopback interface up. Returns 0 or -1 (errno). */
int cs_loopback_up(void);

/* In the forked workload: drop every privilege, load seccomp, execve. Never returns. */
__attribute__((noreturn)) void cs_exec_workload(const struct cs_plan *p, int setup_fd);

/* Empty every capability set (bounding, ambient, effective/permitted/inheritable).
 * Returns 0, or -1 with errno set and *step naming the set that failed. */
int cs_drop_capabilities(const char **step);

/* Load the plan's seccomp filter (if any) with no_new_privs. 0, or -1 with errno and *step.
 * With `listener`, the filter is loaded with a user-notification listener, returned there
 * (close-on-exec); NULL loads it without one (the egress relay: its USER_NOTIF rules then
 * answer ENOSYS). */
int cs_load_seccomp(const struct cs_plan *p, int *listener, const char **step);

/* In the workload: hand the filter's listener to the supervisor. 0 or -1 (errno). */
int cs_send_listener(int sock, int listener);

/* Proxy mode: listen on 127.0.0.1:egress_port and fork the egress relay (a child of
 * init) before the command starts. Fails the set-up with CS_STAGE_EGRESS_RELAY. */
void cs_start_egress_relay(const struct cs_plan *p, int setup_fd);

/* One message with up to 16 descriptors attached (SCM_RIGHTS); sending is async-signal-safe.
 * Receive: the message's length (0 at EOF; -1 on error, or EMSGSIZE when it or its fds were
 * truncated) and at most maxfds fds (close-on-exec; more are closed). */
int cs_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
ssize_t cs_receive_with_fds(int sock, void *buf, size_t cap, int *fds, int *nfds, int maxfds, int flags);

/* Close every descriptor >= 3 except those listed. */
void cs_close_fds_except(const int *keep, int nkeep);

#endif
