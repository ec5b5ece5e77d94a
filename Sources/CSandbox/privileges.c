/*
 * Dropping privileges, shared by every process of the sandbox that runs untrusted
 * input: the workload (before execve) and the egress relay (before it serves).
 * Async-signal-safe: raw syscalls and prctl only.
 */
#include "internal.h"
#include <string.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

int cs_drop_capabilities(const char **step) {
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL) break;   /* past the kernel's last capability */
            *step = "bounding set";
            return -1;
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
        *step = "ambient set";
        return -1;
    }
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) < 0) { *step = "capset"; return -1; }
    return 0;
}

int cs_load_seccomp(const struct cs_plan *p, int *listener, const char **step) {
    if (listener) *listener = -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { *step = "no_new_privs"; return -1; }
    if (p->seccomp_filter && p->seccomp_len > 0) {
        struct sock_fprog prog = { .len = p->seccomp_len, .filter = (struct sock_filter *)p->seccomp_filter };
        unsigned long flags = listener && p->denial_fd >= 0 ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
        long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
        if (r < 0) { *step = "seccomp"; return -1; }
        if (flags) *listener = (int)r;
    }
    return 0;
}
