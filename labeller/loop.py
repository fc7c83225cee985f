"""When to reconcile: a periodic tick plus immediate, debounced requests.

Watch handlers and the extender call :meth:`Triggers.request` with a reason
(``"pod: default/x pending performance"``). Requests arriving within the debounce
window are merged into one reconcile, so a burst of 500 pods costs one plan, not
500; the tick guarantees a pass even when no event arrives.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def _ignore(_: str) -> None:
    pass


class Triggers:
    def __init__(
        self, interval_seconds: float = 30.0, debounce_seconds: float = 0.2, count: Callable[[str], None] = _ignore
    ) -> None:
        self.interval = interval_seconds
        self.debounce = debounce_seconds
        self._count = count
        self._cond = threading.Condition()
        self._reasons: list[str] = []
        self._stopped = False

    def request(self, reason: str) -> None:
        """Ask for a reconcile soon (within the debounce window)."""
        self._count(reason)
        with self._cond:
            self._reasons.append(reason)
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def wait(self) -> str | None:
        """Block until the next reconcile is due; returns its reason, ``None`` once stopped."""
        deadline = time.monotonic() + self.interval
        with self._cond:
            while not self._reasons and not self._stopped:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "tick"
                self._cond.wait(remaining)
            if self._stopped:
                return None
        time.sleep(self.debounce)  # let the rest of a burst arrive
        with self._cond:
            reasons, self._reasons = self._reasons, []
        first = reasons[0]
        return first if len(reasons) == 1 else f"{first.split(':', 1)[0]}: {first} (+{len(reasons) - 1} more)"


def run_loop(
    triggers: Triggers, reconcile: Callable[[str], object], count_error: Callable[[str], None] = _ignore
) -> None:
    """Reconcile on every trigger until stopped; an exception never ends the loop."""
    reason: str | None = "startup"
    while reason is not None:
        try:
            reconcile(reason)
        except Exception:
            count_error("reconcile")
            log.exception("reconcile failed; retrying on the next trigger")
        reason = triggers.wait()
