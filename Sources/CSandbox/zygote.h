/* The launcher process (zygote.c) and its messages (plancodec.c). Internal to CSandbox. */
#ifndef CSANDBOX_ZYGOTE_H
#define CSANDBOX_ZYGOTE_H
#include "csandbox.h"

/* Largest request (a plan with its strings, mounts and seccomp filter), and most fds in one. */
#define CS_ZYGOTE_MAX_MESSAGE (512 * 1024)
#define CS_ZYGOTE_MAX_FDS 12

enum { CS_ZYGOTE_LAUNCH = 1, CS_ZYGOTE_SET_POOL = 2, CS_ZYGOTE_POOL_READY = 3 };

/* Daemon -> zygote. For LAUNCH, the packed plan follows; `plan` holds offsets and fd indices. */
struct cs_zygote_request {
    uint32_t kind;
    uint32_t size;        /* the whole message */
    int32_t pool;         /* SET_POOL: the target */
    int32_t pad;
    struct cs_plan plan;
};

/* Zygote -> daemon. LAUNCH: result 0 with the setup, status and (when present) mount
 * namespace fds attached in that order; -1 with `err`. `reap` is a sandbox init the zygote
 * started and killed (a failed set-up): the daemon is its parent and must reap it. */
struct cs_zygote_reply {
    int32_t result;
    int32_t err_no;
    struct cs_error_record err;
    pid_t pid;
    pid_t reap;
    int32_t cgroup_entry;
    int32_t has_mntns;
    int32_t pool_ready;
};

/* plancodec.c. Pack: a malloc'd message and the fds to attach (CS_ZYGOTE_MAX_FDS room);
 * -1 with EMSGSIZE when it does not fit. Unpack: in place; -1 when malformed. */
int cs_plan_pack(const struct cs_plan *plan, char **out, size_t *len, int *fds, int *nfds);
int cs_plan_unpack(char *buf, size_t len, const int *fds, int nfds, struct cs_plan *out);

/* launcher.c, shared with the zygote: one launch in this process. `as_sibling`: the
 * sandbox becomes a child of this process's parent (CLONE_PARENT), and a sandbox killed
 * after a failed set-up is left in *reap for that parent to wait for. */
int cs_launch_here(const struct cs_plan *p, struct cs_child *out, struct cs_error_record *err, int as_sibling, pid_t *reap);
/* launcher.c: the pool of ready network namespaces, in whichever process runs it. */
void cs_pool_init(void);
void cs_pool_set_target(int count);
int cs_pool_count(void);
/* Nanoseconds until the pool may be refilled (0: now; -1: nothing to refill). */
long cs_pool_refill_due_ns(void);
void cs_pool_refill_one(void);
void cs_pool_note_launch(void);
/* launcher.c: the read end of the lifeline pipe sandboxes inherit. */
void cs_set_lifeline_fd(int fd);

/* zygote.c, daemon side (called with launcher.c's launch lock held). Launch through the
 * launcher process when one runs: *handled = 1 and the launch's result; *handled = 0 when
 * there is none or it cannot take this plan (the caller launches in-process). */
int cs_zygote_launch(const struct cs_plan *plan, struct cs_child *out, struct cs_error_record *err, int *handled);
/* 1 when the launcher process took the pool target; its pool's count, or -1 without one. */
int cs_zygote_set_pool(int count);
int cs_zygote_pool_ready(void);
/* launcher.c: runs fn on the launcher thread (the zygote's parent must never exit). */
int cs_on_launcher_thread(int (*fn)(void *), void *arg);
int cs_lifeline_read_fd(void);

#endif
