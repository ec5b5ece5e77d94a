/* Debian puts libpq-fe.h in /usr/include/postgresql (pkg-config --cflags libpq). */
#include <libpq-fe.h>
