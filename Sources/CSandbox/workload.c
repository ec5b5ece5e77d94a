/*
 * The workload process (pid 2 in the sandbox, 3 after the egress relay): a new session, stdio wired, every
 * other descriptor closed on exec, every capability set emptied, no_new_privs,
 * and the seccomp filter loaded last, right before execve.
 */
#include "internal.h"
#include <string.h>
#include <signal.h>
#include <linux/close_range.h>

static void reset_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < 65; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        signal(sig, SIG_DFL);
    }
}

static void wire_stdio(const struct cs_plan *p, int setup_fd) {
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0) cs_die(setup_fd, CS_STAGE_STDIO, "/dev/null", errno);
    if (dup2(null_fd, 0) < 0) cs_die(setup_fd, CS_STAGE_STDIO, "stdin", errno);
    int out = p->stdout_fd >= 0 ? p->stdout_fd : null_fd;
    int err = p->stderr_fd >= 0 ? p->stderr_fd : null_fd;
    if (dup2(out, 1) < 0) cs_die(setup_fd, CS_STAGE_STDIO, "stdout", errno);
    if (dup2(err, 2) < 0) cs_die(setup_fd, CS_STAGE_STDIO, "stderr", errno);
    /* Everything beyond 0-2 goes: only the setup pipe and the denial socket survive until
     * exec (both close-on-exec; the socket is closed before, once the listener is sent). */
    int keep[2] = { setup_fd, p->denial_fd };
    cs_close_fds_except(keep, p->denial_fd >= 0 ? 2 : 1);
    if (fcntl(setup_fd, F_SETFD, FD_CLOEXEC) < 0) cs_die(setup_fd, CS_STAGE_STDIO, "setup pipe", errno);
}

static void drop_capabilities(int setup_fd) {
    const char *step = "";
    if (cs_drop_capabilities(&step) != 0) cs_die(setup_fd, CS_STAGE_CAPS, step, errno);
}

static void try_exec(const char *path, const struct cs_plan *p) {
    execve(path, p->argv, p->envp);
}

/* execvpe without allocation: search path_search when argv[0] has no slash. */
__attribute__((noreturn)) static void exec_command(const struct cs_plan *p, int setup_fd) {
    const char *cmd = p->argv[0];
    if (!cmd || !*cmd) cs_die(setup_fd, CS_STAGE_EXEC, "", ENOENT);
    if (strchr(cmd, '/')) {
        try_exec(cmd, p);
        cs_die(setup_fd, CS_STAGE_EXEC, cmd, errno);
    }
    const char *path = p->path_search ? p->path_search : "/usr/local/bin:/usr/bin:/bin";
    char buf[4096];
    int saw_eacces = 0;
    int last = ENOENT;
    size_t clen = cs_strlen(cmd);
    while (*path) {
        const char *end = strchr(path, ':');
        size_t dlen = end ? (size_t)(end - path) : cs_strlen(path);
        if (dlen + 1 + clen + 1 <= sizeof buf) {
            size_t off = 0;
            if (dlen == 0) { buf[off++] = '.'; }
            else { memcpy(buf, path, dlen); off = dlen; }
            buf[off++] = '/';
            memcpy(buf + off, cmd, clen + 1);
            try_exec(buf, p);
            if (errno == EACCES) saw_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR) last = errno;
        }
        if (!end) break;
        path = end + 1;
    }
    cs_die(setup_fd, CS_STAGE_EXEC, cmd, saw_eacces ? EACCES : last);
}

void cs_exec_workload(const struct cs_plan *p, int setup_fd) {
    reset_signals();
    if (setsid() < 0) cs_die(setup_fd, CS_STAGE_SETSID, NULL, errno);
    wire_stdio(p, setup_fd);
    if (chdir(p->cwd ? p->cwd : "/") != 0) cs_die(setup_fd, CS_STAGE_CHDIR, p->cwd, errno);
    drop_capabilities(setup_fd);
    const char *step = "";
    int listener = -1;
    if (cs_load_seccomp(p, &listener, &step) != 0)
        cs_die(setup_fd, step[0] == 'n' ? CS_STAGE_NO_NEW_PRIVS : CS_STAGE_SECCOMP, NULL, errno);
    if (p->denial_fd >= 0) {
        /* The command must never hold its own listener: it could answer its own denials. */
        if (listener >= 0 && cs_send_listener(p->denial_fd, listener) != 0) cs_die(setup_fd, CS_STAGE_SECCOMP, "send listener", errno);
        if (listener >= 0) close(listener);
        close(p->denial_fd);
    }
    exec_command(p, setup_fd);
}
