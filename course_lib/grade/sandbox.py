"""Confinement for the class grader's child process (course_lib.grade.child), applied after
its own imports and before any graded code: resource limits, the kernel's fence (Landlock,
course_lib.grade.landlock, where Linux has it) and an audit hook. Graded code may read only
the Python installation, course_lib/, data/ and its scratch folder, write only in the scratch
folder, and start no process and use no network; the audit hook records each refusal."""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

from course_lib.grade import landlock

# Events whose path arguments must lie inside the scratch folder, as (position of the path,
# position of its dir_fd or None); the positions are those of the audit event's arguments.
_PATH_EVENTS = {
    "os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)), "os.link": ((0, 2), (1, 3)),
    "os.chmod": ((0, 2),), "os.chown": ((0, 3),), "os.utime": ((0, 3),),
    "os.truncate": ((0, None),), "shutil.rmtree": ((0, 1),), "shutil.copyfile": ((1, None),),
    "shutil.copytree": ((1, None),), "shutil.move": ((0, None), (1, None)),
    "sqlite3.connect": ((0, None),),
}
# Events whose path (position 0; for os.fwalk its dir_fd at 4) is a folder to be listed.
_LIST_EVENTS = {"os.listdir": None, "os.scandir": None, "os.fwalk": 4}
# Events refused outright: a child process or a socket would escape every other limit; a
# symbolic link or another working folder would let a path mean one thing to this hook and
# another to the kernel (relative to a folder's descriptor, which the "open" event omits).
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
    "os.symlink": "making a symbolic link",
}
_WATCHED = {"open", "os.kill", "os.chdir", *_PATH_EVENTS, *_LIST_EVENTS, *_REFUSED}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
# Shared libraries that extension modules load on first import (lzma, ctypes, ...) and the
# loader's cache; /dev/urandom, which torch.seed() reads.
_SYSTEM = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache",
           "/dev/urandom")
_PR_SET_PDEATHSIG = 1
RULES = ("graded code may read only the Python installation, course_lib, data/ and its scratch "
         "folder, may write only inside its scratch folder, and may not start processes or use "
         "the network")


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


def _under(full: str | None, roots) -> bool:
    return full is not None and any(full == r or full.startswith(r + os.sep) for r in roots)


def readable_paths() -> list[str]:
    """What graded code may read, resolved: the standard library, site-packages and the other
    folders on sys.path, course_lib/ and data/ (never the repository root, which holds
    solutions/), the system's shared libraries, /dev/urandom and this process's /proc entry
    (transformers reads /proc/mounts, a link into it, when it loads a model)."""
    import sysconfig

    import course_lib
    from course_lib.runtime import DATA_DIR, REPO_ROOT

    repo = os.path.realpath(REPO_ROOT)
    paths = sysconfig.get_paths()
    wanted = [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    wanted += [p for p in sys.path if p and os.path.isabs(p)]
    wanted += [*course_lib.__path__, str(DATA_DIR), *_SYSTEM, f"/proc/{os.getpid()}"]
    found: list[str] = []
    for path in wanted:
        full = os.path.realpath(path)
        if full == os.sep or full == repo or repo.startswith(full + os.sep):
            continue  # the repository root or above it: solutions/ would be readable
        if os.path.exists(full) and full not in found:
            found.append(full)
    return found


def _resolve(path, dir_fd=None) -> str | None:
    """The absolute, link-free path that `path` (or a descriptor) names; None if unknown."""
    try:
        if isinstance(path, int):
            return os.readlink(f"/proc/self/fd/{path}")
        text = os.fsdecode(path)
        if not os.path.isabs(text) and isinstance(dir_fd, int) and dir_fd >= 0:
            text = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
        return os.path.realpath(text)
    except (OSError, TypeError, ValueError):
        return None


def _name(path) -> str:
    try:
        text = repr(os.fsdecode(path))
    except TypeError:
        text = repr(path)
    return text if len(text) <= 160 else text[:157] + "..."


def _make_hook(scratch: str, readable: list[str], seen: list[str]):
    """The audit hook, with its state in a closure: graded code that rebinds this module's
    names (or a grader that restores them) cannot loosen it."""
    busy = [False]  # re-entry guard: the hook's own path checks must not be audited again
    writable = [scratch, os.devnull]
    readable = [*readable, *writable]

    def refuse(what: str) -> None:
        if what not in seen:
            seen.append(what)
        raise PermissionError(f"the grader refused {what}: {RULES}")

    def check_open(path, mode, flags) -> None:
        if path is None or isinstance(path, int):  # wraps a descriptor already checked
            return
        full = _resolve(path)
        if (any(c in mode for c in "wax+") if isinstance(mode, str)
                else isinstance(flags, int) and bool(flags & _WRITE_FLAGS)):
            if not _under(full, writable):
                refuse(f"writing {_name(path)}")
        elif not _under(full, readable):
            refuse(f"reading {_name(path)}")
        elif not _under(full, writable) and os.path.isdir(full):
            # A folder's descriptor outside the scratch folder would let a relative path
            # opened from it (os.open's dir_fd, which the event omits) escape this hook.
            refuse(f"opening the folder {_name(path)}")

    def hook(event: str, args: tuple) -> None:
        if busy[0] or event not in _WATCHED:
            return
        busy[0] = True
        try:
            if event == "open":
                check_open(*(tuple(args) + (None, None, None))[:3])
            elif event in _LIST_EVENTS:
                at = _LIST_EVENTS[event]
                path = "." if not args or args[0] is None else args[0]
                dir_fd = args[at] if at is not None and at < len(args) else None
                if not _under(_resolve(path, dir_fd), readable):
                    refuse(f"listing {_name(path)}")
            elif event == "os.chdir":
                if _resolve(args[0]) != scratch:
                    refuse(f"changing the working folder to {_name(args[0])}")
            elif event in _PATH_EVENTS:
                for i, j in _PATH_EVENTS[event]:
                    path = args[i] if i < len(args) else None
                    dir_fd = args[j] if j is not None and j < len(args) else None
                    if path is not None and not _under(_resolve(path, dir_fd), writable):
                        refuse(f"{event}({_name(path)})")
            elif event == "os.kill":
                if args[0] not in (0, os.getpid()):
                    refuse(f"os.kill of process {args[0]}")
            else:
                refuse(f"{_REFUSED[event]} ({event})")
        finally:
            busy[0] = False

    return hook


def confine(scratch: str, violations: list[str], kernel: bool = True) -> int:
    """From now on this process may read only `readable_paths()` and `scratch`, and write only
    inside `scratch`; each refusal the audit hook sees is appended to `violations`; sys.path
    keeps only readable folders. Irreversible by design. kernel=False leaves Landlock off (the
    audit hook alone, as on macOS). Returns the Landlock ABI in force, 0 for none."""
    scratch = os.path.realpath(scratch)
    readable = readable_paths()
    sys.path[:] = [p for p in sys.path if p and _under(os.path.realpath(p), readable)]
    abi = landlock.restrict([scratch, os.devnull], readable) if kernel else 0
    sys.addaudithook(_make_hook(scratch, readable, violations))
    return abi


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0 where there is none): what `confine` will use."""
    return landlock.abi()
