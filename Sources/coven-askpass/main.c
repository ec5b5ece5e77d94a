/*
 * coven-askpass: the GIT_ASKPASS helper inside a sandbox.
 *
 * git runs it with one argument, the prompt ("Username for 'https://host': " or
 * "Password for 'https://x-access-token@host': "). This file holds no secret: it
 * forwards the prompt to the supervisor over the unix socket bind-mounted for this
 * attempt and prints the answer. The supervisor decides (right host, attempt still
 * running, right peer uid) and logs the request; once the attempt is over the socket
 * is gone and every request fails.
 *
 * Protocol: one request line "<prompt>\n"; one answer line "ok <value>\n" or
 * "err <reason>\n".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/coven/askpass.sock"

static int write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        buf += w; n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *prompt = argc > 1 ? argv[1] : "";
    const char *path = getenv("COVEN_ASKPASS_SOCKET");
    if (!path || !*path) path = DEFAULT_SOCKET;
    if (strchr(prompt, '\n') || strlen(prompt) > 2048) {
        fprintf(stderr, "coven-askpass: refusing a malformed prompt\n");
        return 1;
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { perror("coven-askpass: socket"); return 1; }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) { fprintf(stderr, "coven-askpass: socket path too long\n"); return 1; }
    strcpy(addr.sun_path, path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "coven-askpass: supervisor not reachable at %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (write_all(fd, prompt, strlen(prompt)) < 0 || write_all(fd, "\n", 1) < 0) {
        fprintf(stderr, "coven-askpass: write: %s\n", strerror(errno));
        return 1;
    }

    char answer[8192];
    size_t got = 0;
    while (got < sizeof answer - 1) {
        ssize_t r = read(fd, answer + got, sizeof answer - 1 - got);
        if (r < 0) { if (errno == EINTR) continue; break; }
        if (r == 0) break;
        got += (size_t)r;
        if (memchr(answer, '\n', got)) break;
    }
    close(fd);
    answer[got] = 0;
    char *nl = strchr(answer, '\n');
    if (!nl) { fprintf(stderr, "coven-askpass: no answer from supervisor\n"); return 1; }
    *nl = 0;
    if (strncmp(answer, "ok ", 3) == 0) {
        printf("%s\n", answer + 3);
        fflush(stdout);
        memset(answer, 0, sizeof answer);
        return 0;
    }
    fprintf(stderr, "coven-askpass: refused: %s\n", strncmp(answer, "err ", 4) == 0 ? answer + 4 : "bad answer");
    return 1;
}
