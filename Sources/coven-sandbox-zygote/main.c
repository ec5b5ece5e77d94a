/* coven-sandbox-zygote: the daemon's launcher process (CSandbox/zygote.c). Started by the
 * daemon with its socket on fd 3 and the lifeline on fd 4; not meant to be run by hand. */
#include <csandbox.h>
#include <stdio.h>
#include <fcntl.h>

int main(void) {
    if (fcntl(3, F_GETFD) < 0) {
        fputs("coven-sandbox-zygote: started by coven-supervisor serve, not by hand\n", stderr);
        return 2;
    }
    return cs_zygote_main();
}
