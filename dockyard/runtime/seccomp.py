"""Seccomp: Docker's default profile, and how a profile becomes the OCI spec's `linux.seccomp`.

A profile is in Docker's format, the one `docker run --security-opt seccomp=profile.json` takes:
a default action for every syscall no rule names, the architectures to filter by native one
(`archMap`), and rules that name syscalls with an action and, optionally, argument checks. A rule
is kept or dropped for a container by `includes`/`excludes`: the capabilities the container has
(all of `includes.caps`, none of `excludes.caps`), the machine's architecture (`arches`, Go's
names: amd64, arm64...) and the kernel's version (`minKernel`). What is kept goes to the runtime,
which compiles the filter and installs it just before it executes the container's process.

The default profile allows what Docker's default profile allows (a differential test compares the
OCI sections dockerd 20.10 and dockyard give for the same capabilities): everything an ordinary
program calls; the syscalls a capability is about only with that capability (mount, unshare and
setns with CAP_SYS_ADMIN, ptrace-like peeking with CAP_SYS_PTRACE, reboot with CAP_SYS_BOOT...);
`clone` without namespace flags and `clone3` answered ENOSYS (so a C library falls back to
`clone`) unless CAP_SYS_ADMIN; `personality` for its harmless values only. Anything else (keyctl,
add_key, userfaultfd, kexec_load, new namespaces through clone...) fails with EPERM.

A privileged container and `--security-opt seccomp=unconfined` get no filter, as with Docker.
"""

from __future__ import annotations

import functools
import json
import os

from dockyard.errors import InvalidParameter

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from typing import Any

ALLOW, ERRNO = "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"
ENOSYS = 38
# clone's namespace flags (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET): a clone
# asking for none of them is a thread or a process, one asking for any makes a namespace
CLONE_NAMESPACE_FLAGS = 0x7E020000
# personality(2) values a program may set: PER_LINUX, PER_LINUX32, UNAME26, both, and the query
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

_ORDINARY = """
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64
fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs
fstatfs64 fsync ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd
getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32
getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register
io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr
lstat lstat64 madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat
mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv
msgsnd msync munlock munlockall munmap nanosleep newfstatat _newselect open openat openat2 pause
pidfd_open pidfd_send_signal pipe pipe2 poll ppoll ppoll_time64 prctl pread64 preadv preadv2
prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead
readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages
removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending
rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select
semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto
setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid
setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
socket socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync
sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit
umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid
waitpid write writev
""".split()

# what a capability is about: allowed only to a container that has it
_BY_CAPABILITY = {
    "CAP_DAC_READ_SEARCH": ["open_by_handle_at"],
    "CAP_SYS_ADMIN": ["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
                      "fspick", "lookup_dcookie", "mount", "mount_setattr", "move_mount",
                      "name_to_handle_at", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
                      "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2",
                      "unshare"],
    "CAP_SYS_BOOT": ["reboot"],
    "CAP_SYS_CHROOT": ["chroot"],
    "CAP_SYS_MODULE": ["delete_module", "init_module", "finit_module"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYS_PTRACE": ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                       "process_vm_writev"],
    "CAP_SYS_RAWIO": ["iopl", "ioperm"],
    "CAP_SYS_TIME": ["settimeofday", "stime", "clock_settime"],
    "CAP_SYS_TTY_CONFIG": ["vhangup"],
    "CAP_SYS_NICE": ["get_mempolicy", "mbind", "set_mempolicy"],
    "CAP_SYSLOG": ["syslog"],
    "CAP_BPF": ["bpf"],
    "CAP_PERFMON": ["perf_event_open"],
}


def _rule(names: list[str], action: str = ALLOW, **extra: Any) -> dict[str, Any]:
    return {"names": names, "action": action, **extra}


DEFAULT_PROFILE: dict[str, Any] = {
    "defaultAction": ERRNO,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        _rule(_ORDINARY),
        _rule(["ptrace"], includes={"minKernel": "4.8"}),   # before 4.8 it could bypass the filter
        *(_rule(["personality"], args=[{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]) for v in PERSONALITIES),
        _rule(["arch_prctl"], includes={"arches": ["amd64", "x32"]}),
        _rule(["modify_ldt"], includes={"arches": ["amd64", "x32", "x86"]}),
        _rule(["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
               "set_tls"], includes={"arches": ["arm", "arm64"]}),
        _rule(["clone"], args=[{"index": 0, "value": CLONE_NAMESPACE_FLAGS, "op": "SCMP_CMP_MASKED_EQ"}],
              excludes={"caps": ["CAP_SYS_ADMIN"]}),
        _rule(["clone3"], ERRNO, errnoRet=ENOSYS, excludes={"caps": ["CAP_SYS_ADMIN"]}),
        *(_rule(names, includes={"caps": [cap]}) for cap, names in _BY_CAPABILITY.items()),
    ],
}

# Go's names of the machine's architecture (as Docker's profile says `arches`) and libseccomp's
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "s390x": "s390x",
           "ppc64le": "ppc64le", "riscv64": "riscv64"}
_NATIVE = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM",
           "386": "SCMP_ARCH_X86", "s390x": "SCMP_ARCH_S390X", "ppc64le": "SCMP_ARCH_PPC64LE",
           "riscv64": "SCMP_ARCH_RISCV64"}
UNCONFINED = "unconfined"


def parse_profile(text: str) -> dict[str, Any] | None:
    """A profile as `--security-opt seccomp=` carries it (the CLI sends the file's content):
    Docker's JSON format, checked enough that a mistake is this error rather than the runtime's
    at start. As with Docker, `{}` (no default action, no rule) is no filter at all (None), and
    a rule naming no syscall does nothing."""
    try:
        profile = json.loads(text)
    except ValueError as e:
        raise InvalidParameter(f"decoding seccomp profile failed: {e}") from None
    if not isinstance(profile, dict):
        raise InvalidParameter("decoding seccomp profile failed: a profile is a JSON object")
    syscalls = profile.get("syscalls") or []
    if not isinstance(syscalls, list) or not all(isinstance(r, dict) for r in syscalls):
        raise InvalidParameter("decoding seccomp profile failed: syscalls is a list of rules")
    if not profile.get("defaultAction") and not syscalls:
        return None
    if not isinstance(profile.get("defaultAction"), str):
        raise InvalidParameter("decoding seccomp profile failed: the profile has no defaultAction")
    for rule in syscalls:
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise InvalidParameter("decoding seccomp profile failed: names is a list of syscalls' names")
        if not isinstance(rule.get("action"), str):
            raise InvalidParameter("decoding seccomp profile failed: a rule has no action")
    return profile


def oci_seccomp(profile: str, capabilities: list[str]) -> dict[str, Any] | None:
    """The OCI spec's `linux.seccomp` for a container with these capabilities. `profile` is ""
    (Docker's default), "unconfined" (no filter: None) or a profile's JSON text."""
    if profile == UNCONFINED:
        return None
    return json.loads(_oci_json(profile, tuple(sorted(capabilities))))


@functools.lru_cache(maxsize=16)
def _oci_json(profile: str, capabilities: tuple[str, ...]) -> str:
    # kept as text: every container of a build asks for the same one, and each gets its own copy
    parsed = parse_profile(profile) if profile else DEFAULT_PROFILE
    return json.dumps(None if parsed is None else _oci(parsed, set(capabilities)))


def _oci(profile: dict[str, Any], caps: set[str]) -> dict[str, Any]:
    machine = os.uname().machine  # what platform.machine() reads, without its ~1 ms import
    arch = _GOARCH.get(machine, machine)
    kernel = _kernel_version()
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    architectures = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == _NATIVE.get(arch):
            architectures += [entry["architecture"], *(entry.get("subArchitectures") or [])]
    if architectures:
        out["architectures"] = architectures
    rules = []
    for rule in profile.get("syscalls") or []:
        if not _applies(rule.get("includes") or {}, rule.get("excludes") or {}, caps, arch, kernel):
            continue
        names = list(rule.get("names") or ([rule["name"]] if rule.get("name") else []))
        if not names:
            continue
        oci = {"names": names, "action": rule["action"]}
        for key in ("args", "errnoRet"):
            if rule.get(key) is not None:
                oci[key] = rule[key]
        rules.append(oci)
    out["syscalls"] = rules
    return out


def _applies(includes: dict[str, Any], excludes: dict[str, Any], caps: set[str], arch: str,
             kernel: tuple[int, ...]) -> bool:
    if arch in (excludes.get("arches") or []) or caps & set(excludes.get("caps") or []):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if not set(includes.get("caps") or []) <= caps:
        return False
    if includes.get("minKernel") and kernel < _version(includes["minKernel"]):
        return False
    return not (excludes.get("minKernel") and kernel >= _version(excludes["minKernel"]))


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit()) if piece else ""
        parts.append(int(digits or 0))
    return tuple(parts)


@functools.cache
def _kernel_version() -> tuple[int, ...]:
    return _version(os.uname().release.split("-")[0])
