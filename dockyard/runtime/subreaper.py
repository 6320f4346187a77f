"""This process's child-subreaper flag (prctl PR_SET_CHILD_SUBREAPER), held while at least one
user needs it: a process the OCI runtime starts and leaves (`run --detach`, `exec --detach`) is
then reparented to this process once the runtime returns, so it can waitpid() it like its own
child (containerd's shim does the same). Its users wait for their own pids only, never for "any
child" (a user in a thread of a server must not reap the children of other threads).

The flag belongs to the whole process, so its users are counted here (the one piece of
process-wide state: it mirrors a process-wide kernel attribute), and it is put back as it was
when the last one is done."""

from __future__ import annotations

import ctypes
import threading

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37


class _Subreaper:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._was_set = False
        self._libc = ctypes.CDLL(None, use_errno=True)

    def acquire(self) -> None:
        with self._lock:
            if self._users == 0:
                current = ctypes.c_int(0)
                self._libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(current), 0, 0, 0)
                self._was_set = current.value != 0
                if not self._was_set:
                    self._libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and not self._was_set:
                self._libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


SUBREAPER = _Subreaper()
