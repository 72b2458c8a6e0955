"""Landlock, the Linux kernel's fence that an unprivileged process puts on itself (ABI 1 is
Linux 5.13): the grader's child may then read only the folders it is given, write only in its
scratch folder and execute nothing, even from C code that never passes Python's audit hook
(numpy.fromfile or torch.save of a path). Used by course_lib.grade.sandbox."""
from __future__ import annotations

import ctypes
import os
import stat
import struct
import sys

_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446  # the same on every architecture
_PR_SET_NO_NEW_PRIVS = 38
# File-system rights (bits of landlock_ruleset_attr.handled_access_fs).
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_ABI1_FS = (1 << 13) - 1  # ABI 1: the above, remove_*, make_* (bits 0-12)
_REFER, _TRUNCATE = 1 << 13, 1 << 14  # ABI 2: link/rename across folders; ABI 3: truncate
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | _TRUNCATE  # what a rule on a file may hold
_NET_BIND_CONNECT = 0b11  # ABI 4: TCP bind and connect
_SCOPE_UNIX_AND_SIGNAL = 0b11  # ABI 6: abstract unix sockets and signals to outsiders
READ = READ_FILE | READ_DIR


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi() -> int:
    """The kernel's Landlock ABI version, 0 where there is none (macOS, Linux < 5.13, or
    Landlock left out of the kernel's list of security modules)."""
    if not sys.platform.startswith("linux"):
        return 0
    return max(0, _libc().syscall(ctypes.c_long(_SYS_CREATE), None, ctypes.c_long(0),
                                  ctypes.c_long(1)))


def _add_rule(libc, ruleset: int, path: str, rights: int) -> bool:
    """Grant `rights` beneath `path` (only its file rights where it is a file). A path that
    does not exist is skipped; False if the kernel refused the rule."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = struct.pack("=Qi", rights, fd)  # packed landlock_path_beneath_attr
        return libc.syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_long(ruleset),
                            ctypes.c_long(1), ctypes.c_char_p(rule), ctypes.c_long(0)) == 0
    finally:
        os.close(fd)


def restrict(writable: list[str], readable: list[str]) -> int:
    """From now on this thread and the threads it starts may read files and list folders only
    beneath `readable` and `writable`, write, make and remove only beneath `writable`, execute
    no program, use no TCP (ABI 4) and signal no process outside (ABI 6). Irreversible.
    Returns the ABI used, or 0, changing nothing, where the kernel has no Landlock."""
    version = abi()
    if version < 1:
        return 0
    libc = _libc()
    fs = _ABI1_FS | (_REFER if version >= 2 else 0) | (_TRUNCATE if version >= 3 else 0)
    attr = struct.pack("QQQ", fs, _NET_BIND_CONNECT if version >= 4 else 0,
                       _SCOPE_UNIX_AND_SIGNAL if version >= 6 else 0)
    attr = attr[: 8 if version < 4 else 16 if version < 6 else 24]
    ruleset = libc.syscall(ctypes.c_long(_SYS_CREATE), ctypes.c_char_p(attr),
                           ctypes.c_long(len(attr)), ctypes.c_long(0))
    if ruleset < 0:
        return 0
    try:
        rules = [(p, fs & ~EXECUTE) for p in writable] + [(p, READ) for p in readable]
        if not all(_add_rule(libc, ruleset, path, rights) for path, rights in rules):
            return 0
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
            return 0
        if libc.syscall(ctypes.c_long(_SYS_RESTRICT), ctypes.c_long(ruleset), ctypes.c_long(0)):
            return 0
        return version
    finally:
        os.close(ruleset)
