#!/usr/bin/env python3
# Writes small.json, large.json and invalid.json: OCI linux.seccomp sections for pipe-limit
# and `lab affected`, from syscall names and numbers of the Linux UAPI headers (no profile
# text copied). Run it in this directory; the JSON files are committed.
import json
# Syscalls a general-purpose container needs (names from the Linux syscall tables).
allow = """accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
clock_adjtime clock_getres clock_gettime clock_nanosleep close close_range connect copy_file_range
creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2
epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2
fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat
fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_waitv futimesat getcpu getcwd
getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32
getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents ioprio_get
ioprio_set io_setup io_submit io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen
listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier
memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend mq_unlink mremap msgctl
msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat
_newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
pkey_mprotect poll ppoll prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pwrite64
pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmsg
remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_setaffinity sched_setattr
sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop send
sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt
set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown
sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64
statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_settime timerfd_create
timerfd_gettime timerfd_settime times tkill truncate truncate64 ugetrlimit umask uname unlink
unlinkat utime utimensat utimes vfork vmsplice wait4 waitid waitpid write writev
arch_prctl modify_ldt chroot""".split()
assert len(allow) == len(set(allow)), [n for n in allow if allow.count(n) > 1]

def rule(names, action="SCMP_ACT_ALLOW", args=None):
    r = {"names": names, "action": action}
    if args:
        r["args"] = args
    return r

def eq(index, value, op="SCMP_CMP_EQ", two=None):
    a = {"index": index, "value": value, "op": op}
    if two is not None:
        a["valueTwo"] = two
    return a

# personality(2): PER_LINUX, PER_LINUX32, UNAME26 variants and query.
persona = [rule(["personality"], args=[eq(0, v)]) for v in (0x0, 0x8, 0x20000, 0x20008, 0xffffffff)]
# socket(2): every address family but AF_VSOCK (40).
sockets = [rule(["socket"], args=[eq(0, 40, "SCMP_CMP_NE")])]
# clone(2) without the namespace flags (CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP).
ns_flags = 0x7E020000
clone = [rule(["clone"], args=[eq(0, 0, "SCMP_CMP_MASKED_EQ", None) | {"value": ns_flags, "valueTwo": 0}])]
clone3 = [rule(["clone3"], action="SCMP_ACT_ERRNO") | {"errnoRet": 38}]
base = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
}
arches3 = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]

small = dict(base, architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
             syscalls=[rule(sorted(allow))] + persona + sockets + clone + clone3)
# ioctl(2) limited to the terminal, file and socket requests a workload uses (by number,
# from include/uapi/asm-generic/ioctls.h and linux/fs.h, sockios.h).
ioctls = [0x5401, 0x5402, 0x5403, 0x5404, 0x5405, 0x5406, 0x5407, 0x5408, 0x5409, 0x540A, 0x540B,
          0x540C, 0x540D, 0x540E, 0x540F, 0x5410, 0x5411, 0x5413, 0x5414, 0x541B, 0x541C, 0x5421,
          0x5422, 0x5450, 0x5451, 0x5452, 0x5453, 0x8910, 0x8912, 0x8913, 0x8915, 0x8927, 0x8933,
          0x40086602, 0x80086601, 0x80047601]
# prctl(2) limited to the options a workload uses (PR_* numbers from linux/prctl.h).
prctls = [1, 2, 3, 4, 8, 15, 16, 21, 22, 23, 24, 25, 27, 28, 29, 36, 37, 38, 39, 40, 41, 42,
          43, 44, 45, 47, 48, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65]
# fcntl(2) commands (F_* from asm-generic/fcntl.h and linux/fcntl.h).
fcntls = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1024, 1025, 1026, 1030, 1031, 1032, 1033, 1034]
large_allow = sorted(n for n in allow if n not in ("ioctl", "prctl", "fcntl", "fcntl64"))
large = dict(base, architectures=arches3,
             syscalls=[rule(large_allow)] + persona + sockets + clone + clone3
             + [rule(["ioctl"], args=[eq(1, v)]) for v in ioctls]
             + [rule(["prctl"], args=[eq(0, v)]) for v in prctls]
             + [rule(["fcntl", "fcntl64"], args=[eq(1, v)]) for v in fcntls])
invalid = dict(base, architectures=["SCMP_ARCH_X86_64"],
               syscalls=[rule(["read", "write", "exit_group"]), rule(["personality"], args=[eq(6, 0)])])
for name, p in [("small", small), ("large", large), ("invalid", invalid)]:
    with open(f"{name}.json", "w") as f:
        json.dump(p, f, indent=1)
        f.write("\n")
print(len(allow))
