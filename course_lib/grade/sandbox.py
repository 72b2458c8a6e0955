"""Confinement for the class grader's child process (course_lib.grade.child), applied after
its own imports and before any graded code: resource limits, a kernel write fence (Landlock,
where Linux has it) and an audit hook that refuses writes outside the scratch folder, new
processes, network and limit changes, recording each refusal."""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import struct
import sys

# Events whose path arguments must lie inside the scratch folder, as (position of the path,
# position of its dir_fd or None); the positions are those of the audit event's arguments.
_PATH_EVENTS = {
    "os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)), "os.link": ((1, 3),), "os.symlink": ((1, 2),),
    "os.chmod": ((0, 2),), "os.chown": ((0, 3),), "os.utime": ((0, 3),),
    "os.truncate": ((0, None),), "shutil.rmtree": ((0, 1),), "shutil.copyfile": ((1, None),),
    "shutil.copytree": ((1, None),), "shutil.move": ((0, None), (1, None)),
    "sqlite3.connect": ((0, None),),
}
# Events refused outright: a child process or a socket would escape every other limit.
_REFUSED = {
    "subprocess.Popen": "starting a process", "os.system": "starting a process",
    "os.exec": "starting a process", "os.posix_spawn": "starting a process",
    "os.spawn": "starting a process", "os.fork": "starting a process",
    "os.forkpty": "starting a process", "pty.spawn": "starting a process",
    "socket.connect": "network access", "socket.bind": "network access",
    "socket.sendto": "network access", "socket.sendmsg": "network access",
    "resource.setrlimit": "changing resource limits", "resource.prlimit": "changing limits",
    "ctypes.dlopen": "loading a C library", "ctypes.dlsym": "calling into C code",
    "os.setuid": "changing user", "os.setgid": "changing group", "os.chroot": "chroot",
    "os.setsid": "leaving the process group", "os.setpgid": "leaving the process group",
    "os.killpg": "signalling other processes", "signal.pthread_kill": "signalling threads",
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def set_limits(memory_mb: int, file_mb: int) -> None:
    """Address-space and file-size limits, hard and soft alike so the child cannot raise them
    back; no core files (a crash must not fill the scratch folder)."""
    for res, mb in ((resource.RLIMIT_AS, memory_mb), (resource.RLIMIT_FSIZE, file_mb),
                    (resource.RLIMIT_CORE, 0)):
        limit = mb * 2**20
        soft, hard = resource.getrlimit(res)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        try:
            resource.setrlimit(res, (limit, limit))
        except (ValueError, OSError):  # macOS refuses some limits: grade without them
            pass


def die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this process if the grader that started it dies (e.g. on Ctrl-C)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the grader was already gone before the line above
            os._exit(1)


def _resolve(path, dir_fd) -> str:
    text = os.fsdecode(path)
    if not os.path.isabs(text) and isinstance(dir_fd, int) and dir_fd >= 0:
        text = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
    return os.path.realpath(text)


def _name(path) -> str:
    try:
        return repr(os.fsdecode(path))
    except TypeError:
        return repr(path)[:200]


def _make_hook(scratch: str, seen: list[str]):
    """The audit hook, with its state in a closure: graded code that rebinds this module's
    names (or a grader that restores them) cannot loosen it."""
    busy = [False]  # re-entry guard: the hook's own path checks must not be audited again

    def inside(path, dir_fd=None) -> bool:
        if isinstance(path, int):  # an already-open descriptor: its open was checked
            return True
        try:
            full = _resolve(path, dir_fd)
        except (OSError, TypeError, ValueError):  # unresolvable: treat it as outside
            return False
        return full == os.devnull or full == scratch or full.startswith(scratch + os.sep)

    def refuse(what: str) -> None:
        if what not in seen:
            seen.append(what)
        raise PermissionError(f"the grader refused {what}: graded code may only write inside "
                              "its scratch folder and may not start processes or use the "
                              "network")

    def hook(event: str, args: tuple) -> None:
        if busy[0] or not (event == "open" or event in _PATH_EVENTS or event in _REFUSED
                           or event == "os.kill"):
            return
        busy[0] = True
        try:
            if event == "open":
                path, mode, flags = (tuple(args) + (None, None, None))[:3]
                writing = (any(c in mode for c in "wax+") if isinstance(mode, str)
                           else isinstance(flags, int) and bool(flags & _WRITE_FLAGS))
                if writing and path is not None and not inside(path):
                    refuse(f"writing {_name(path)}")
            elif event in _PATH_EVENTS:
                for i, j in _PATH_EVENTS[event]:
                    path = args[i] if i < len(args) else None
                    dir_fd = args[j] if j is not None and j < len(args) else None
                    if path is not None and not inside(path, dir_fd):
                        refuse(f"{event}({_name(path)})")
            elif event == "os.kill":
                if args[0] not in (0, os.getpid()):
                    refuse(f"os.kill of process {args[0]}")
            else:
                refuse(f"{_REFUSED[event]} ({event})")
        finally:
            busy[0] = False

    return hook


# Landlock (Linux >= 5.13): the kernel refuses writes outside the allowed folders even for C
# code that never passes through Python's audit hook (torch.save to a path does that).
_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446  # the same on every architecture
_FS_WRITE_ABI1 = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write/remove/make_*
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14
_NET_BIND_CONNECT = 0b11
_SCOPE_UNIX_AND_SIGNAL = 0b11
_PR_SET_NO_NEW_PRIVS, _PR_SET_PDEATHSIG = 38, 1


def _landlock(scratch: str) -> bool:
    """Fence writes to `scratch` (and /dev/null); refuse TCP and signals to outsiders.
    Returns False, changing nothing, where the kernel has no Landlock."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(ctypes.c_long(_SYS_CREATE), None, ctypes.c_long(0), ctypes.c_long(1))
    if abi < 1:
        return False
    fs = _FS_WRITE_ABI1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    attr = struct.pack("QQQ", fs, _NET_BIND_CONNECT if abi >= 4 else 0,
                       _SCOPE_UNIX_AND_SIGNAL if abi >= 6 else 0)
    attr = attr[: 8 if abi < 4 else 16 if abi < 6 else 24]
    ruleset = libc.syscall(ctypes.c_long(_SYS_CREATE), ctypes.c_char_p(attr),
                           ctypes.c_long(len(attr)), ctypes.c_long(0))
    if ruleset < 0:
        return False
    file_rights = (1 << 1) | (_FS_TRUNCATE if abi >= 3 else 0)
    try:
        for path, rights in ((scratch, fs), (os.devnull, file_rights)):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = struct.pack("=Qi", rights, fd)  # packed landlock_path_beneath_attr
                if libc.syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_long(ruleset),
                                ctypes.c_long(1), ctypes.c_char_p(rule), ctypes.c_long(0)):
                    return False
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
            return False
        return libc.syscall(ctypes.c_long(_SYS_RESTRICT), ctypes.c_long(ruleset),
                            ctypes.c_long(0)) == 0
    finally:
        os.close(ruleset)


def confine(scratch: str, violations: list[str]) -> bool:
    """From now on this process may write only inside `scratch`; each refusal is appended
    to `violations`. Irreversible by design. Returns whether the kernel fence (Landlock) is
    on; the audit hook always is."""
    scratch = os.path.realpath(scratch)
    fenced = _landlock(scratch)
    sys.addaudithook(_make_hook(scratch, violations))
    return fenced


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0 where there is none): what `confine` will use."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return max(0, libc.syscall(ctypes.c_long(_SYS_CREATE), None, ctypes.c_long(0),
                               ctypes.c_long(1)))
