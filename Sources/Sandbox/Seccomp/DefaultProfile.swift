// GENERATED from profiles/default.json: do not edit below the marker by hand. After
// changing the JSON, regenerate from the repository root with:
//   F=Sources/Sandbox/Seccomp/DefaultProfile.swift; { sed '/^\/\/ -\{3\}8<-\{3\}$/q' $F; printf 'extension SeccompProfile {\n    public static let embeddedDefaultJSON = #"""\n'; cat profiles/default.json; printf '\n"""#\n}\n'; } > $F.new && mv $F.new $F
// SeccompProfileTests.testEmbeddedDefaultEqualsFile fails when the two differ.
//
// `SeccompProfile.embeddedDefaultJSON` is the content of profiles/default.json, byte for
// byte. It makes `SeccompProfile.load(nameOrPath: "default")` work with no files at all
// (profiles/README.md says what the profile allows and denies, and why).
// ---8<---
extension SeccompProfile {
    public static let embeddedDefaultJSON = #"""
{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []},
    {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": []}
  ],
  "syscalls": [
    {
      "names": [
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
        "capset", "chdir", "chmod", "chown", "clock_adjtime", "clock_getres", "clock_gettime",
        "clock_nanosleep", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
        "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
        "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
        "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
        "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown",
        "fchownat", "fcntl", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
        "fremovexattr", "fsetxattr", "fstat", "fstatfs", "fsync", "ftruncate", "futex",
        "futex_requeue", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
        "get_robust_list", "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64",
        "getegid", "geteuid", "getgid", "getgroups", "getitimer", "getpeername", "getpgid",
        "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresuid",
        "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid",
        "gettimeofday", "getuid", "getxattr", "inotify_add_watch", "inotify_init",
        "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents",
        "io_pgetevents", "io_setup", "io_submit", "ioprio_get", "ioprio_set", "kill",
        "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
        "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "lremovexattr",
        "lseek", "lsetxattr", "lstat", "madvise", "map_shadow_stack", "membarrier",
        "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat",
        "mlock", "mlock2", "mlockall", "mmap", "mprotect", "mq_getsetattr", "mq_notify",
        "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink", "mremap", "msgctl", "msgget",
        "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "nanosleep",
        "newfstatat", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal",
        "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "prctl",
        "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6", "pwrite64",
        "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
        "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages", "removexattr", "rename",
        "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
        "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
        "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_get_priority_max",
        "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
        "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
        "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
        "semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto",
        "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid", "setfsuid",
        "setgid", "setitimer", "setpgid", "setpriority", "setregid", "setresgid", "setresuid",
        "setreuid", "setrlimit", "setsid", "setsockopt", "setuid", "setxattr", "shmat", "shmctl",
        "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "socketpair",
        "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
        "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
        "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
        "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate", "umask", "uname",
        "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4",
        "waitid", "write", "writev"
      ],
      "action": "SCMP_ACT_ALLOW",
      "comment": "Docker's default allow list minus what an agent never needs (profiles/README.md)"
    },
    {
      "names": ["ptrace", "process_vm_readv", "process_vm_writev"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"minKernel": "4.8"},
      "comment": "debuggers; before 4.8 ptrace could be used to bypass seccomp"
    },
    {
      "names": ["personality"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}],
      "comment": "personality: only PER_LINUX, PER_LINUX32, UNAME26 and the query 0xffffffff (as Docker)"
    },
    {
      "names": ["personality"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
      "comment": "personality: only PER_LINUX, PER_LINUX32, UNAME26 and the query 0xffffffff (as Docker)"
    },
    {
      "names": ["personality"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}],
      "comment": "personality: only PER_LINUX, PER_LINUX32, UNAME26 and the query 0xffffffff (as Docker)"
    },
    {
      "names": ["personality"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 131080, "op": "SCMP_CMP_EQ"}],
      "comment": "personality: only PER_LINUX, PER_LINUX32, UNAME26 and the query 0xffffffff (as Docker)"
    },
    {
      "names": ["personality"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}],
      "comment": "personality: only PER_LINUX, PER_LINUX32, UNAME26 and the query 0xffffffff (as Docker)"
    },
    {
      "names": ["arch_prctl"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"arches": ["amd64", "x32"]}
    },
    {
      "names": ["modify_ldt"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"arches": ["amd64", "x32", "x86"]}
    },
    {
      "names": ["riscv_flush_icache"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"arches": ["riscv64"]}
    },
    {
      "names": ["clone"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 2114060416, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
      "excludes": {"arches": ["s390", "s390x"]},
      "comment": "clone without namespace flags: flags & 0x7e020080 (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME) == 0"
    },
    {
      "names": ["clone"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 2114060416, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
      "includes": {"arches": ["s390", "s390x"]},
      "comment": "the same for s390, where clone takes its flags second"
    },
    {
      "names": ["clone3"],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 38,
      "comment": "ENOSYS: its flags are in memory, out of seccomp's reach, so glibc must fall back to clone"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 1, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 0 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 16, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 4 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 32, "valueTwo": 32, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 5 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 64, "valueTwo": 64, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 6 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 128, "valueTwo": 128, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 7 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 256, "valueTwo": 256, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 8 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 512, "valueTwo": 512, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 9 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 1024, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 10 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 11 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 4096, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 12 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 8192, "valueTwo": 8192, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 13 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 16384, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 14 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 32768, "valueTwo": 32768, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 15 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 65536, "valueTwo": 65536, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 16 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 131072, "valueTwo": 131072, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 17 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 262144, "valueTwo": 262144, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 18 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 524288, "valueTwo": 524288, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 19 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 1048576, "valueTwo": 1048576, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 20 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 2097152, "valueTwo": 2097152, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 21 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 4194304, "valueTwo": 4194304, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 22 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 8388608, "valueTwo": 8388608, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 23 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 16777216, "valueTwo": 16777216, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 24 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 33554432, "valueTwo": 33554432, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 25 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 67108864, "valueTwo": 67108864, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 26 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 134217728, "valueTwo": 134217728, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 27 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 268435456, "valueTwo": 268435456, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 28 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 536870912, "valueTwo": 536870912, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 29 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 1073741824, "valueTwo": 1073741824, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 30 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 2147483648, "valueTwo": 2147483648, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bit 31 differs"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 6, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bits [1, 2] = [0, 0]"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 10, "valueTwo": 10, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bits [1, 3] = [1, 1]"
    },
    {
      "names": ["ioctl"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 1, "value": 12, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "ioctl allowed unless (cmd & 0xffffffff) is TIOCSTI 0x5412 or TIOCLINUX 0x541c: bits [2, 3] = [1, 0]"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 1, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 0 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 2, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 1 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 2 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 3 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 16, "valueTwo": 16, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 4 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 32, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 5 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 64, "valueTwo": 64, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 6 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 128, "valueTwo": 128, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 7 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 256, "valueTwo": 256, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 8 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 512, "valueTwo": 512, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 9 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 1024, "valueTwo": 1024, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 10 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 11 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 4096, "valueTwo": 4096, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 12 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 8192, "valueTwo": 8192, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 13 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 16384, "valueTwo": 16384, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 14 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 32768, "valueTwo": 32768, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 15 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 65536, "valueTwo": 65536, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 16 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 131072, "valueTwo": 131072, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 17 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 262144, "valueTwo": 262144, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 18 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 524288, "valueTwo": 524288, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 19 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 1048576, "valueTwo": 1048576, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 20 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 2097152, "valueTwo": 2097152, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 21 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 4194304, "valueTwo": 4194304, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 22 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 8388608, "valueTwo": 8388608, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 23 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 16777216, "valueTwo": 16777216, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 24 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 33554432, "valueTwo": 33554432, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 25 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 67108864, "valueTwo": 67108864, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 26 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 134217728, "valueTwo": 134217728, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 27 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 268435456, "valueTwo": 268435456, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 28 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 536870912, "valueTwo": 536870912, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 29 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 1073741824, "valueTwo": 1073741824, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 30 differs"
    },
    {
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [{"index": 0, "value": 2147483648, "valueTwo": 2147483648, "op": "SCMP_CMP_MASKED_EQ"}],
      "comment": "socket allowed unless (domain & 0xffffffff) is AF_VSOCK 40: bit 31 differs"
    }
  ]
}

"""#
}
