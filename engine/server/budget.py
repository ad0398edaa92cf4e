"""A shared byte budget: memory that frame bodies being received may claim, all connections together."""

from __future__ import annotations

import threading


class ByteBudget:
    """`take(n)` waits (up to `wait` seconds) until n bytes fit under `total`; `give(n)` returns them.

    Waiting instead of refusing slows a client down when several send large frames at once; the
    wait is bounded because a connection that stops sending mid-frame is closed by the server's
    stall check, which gives its bytes back.
    """

    def __init__(self, total: int, wait: float) -> None:
        self.total = total
        self.used = 0
        self._wait = wait
        self._cond = threading.Condition()

    def take(self, n: int) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: self.used + n <= self.total, self._wait):
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._cond:
            self.used = max(0, self.used - n)
            self._cond.notify_all()
