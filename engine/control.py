"""Cooperative control of a run from another thread (light: imports no torch).

The GUI holds a :class:`RunControl` and calls :meth:`~RunControl.stop`,
:meth:`~RunControl.pause`, :meth:`~RunControl.advance`, :meth:`~RunControl.set_lr`,
:meth:`~RunControl.scale_lr` and :meth:`~RunControl.set_delay`; the training loop calls
:meth:`~RunControl.checkpoint` before every update and :meth:`~RunControl.take_lr` /
:meth:`~RunControl.take_lr_scale` to pick up a changed rate.
"""

from __future__ import annotations

import math
import threading

__all__ = ["RunControl", "interrupt_all", "interrupted", "clear_interrupt"]

#: Set by the command line's SIGTERM / Ctrl+C handler: every :class:`RunControl` in the process
#: then reads as stopped. The handler raises KeyboardInterrupt too, but Python drops an exception
#: raised while a weakref callback or ``__del__`` runs ("Exception ignored in ..."), so a signal
#: landing there was lost and the command trained on; the loops see this flag whatever happens.
_INTERRUPTED = threading.Event()


def interrupt_all() -> None:
    """Stop every run of this process at its next update (the command line was interrupted)."""
    _INTERRUPTED.set()


def interrupted() -> bool:
    """Whether :func:`interrupt_all` was called (and not cleared since)."""
    return _INTERRUPTED.is_set()


def clear_interrupt() -> None:
    """Forget an interrupt (the command that took it has returned)."""
    _INTERRUPTED.clear()


class RunControl:
    """Cooperative control of a run, safe to call from any thread.

    The training thread calls :meth:`checkpoint` before every update; it returns False
    once :meth:`stop` was called, and blocks while paused (unless :meth:`advance`
    granted steps).
    """

    def __init__(self, *, start_paused: bool = False) -> None:
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._paused = start_paused
        self._budget = 0
        self._pending_lr: float | None = None
        self._pending_scale = 1.0
        self.delay = 0.0

    # -- called from the controlling thread
    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._budget = 0

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._budget = 0
            self._cond.notify_all()

    def advance(self, steps: int = 1) -> None:
        """While paused, let exactly ``steps`` more updates run, then pause again."""
        with self._cond:
            self._paused = True
            self._budget += max(int(steps), 0)
            self._cond.notify_all()

    def set_lr(self, lr: float) -> None:
        """Use ``lr`` from the next update on (the schedule is rescaled to match)."""
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"learning rate must be a positive finite number, got {lr}")
        self._pending_lr = float(lr)

    def scale_lr(self, factor: float) -> None:
        """Multiply every run's current and future rates by ``factor`` from the next update
        (the whole schedule is scaled: a cyclic run keeps cycling, between scaled bounds)."""
        if not (factor > 0 and math.isfinite(factor)):
            raise ValueError(f"learning-rate factor must be a positive finite number, got {factor}")
        with self._cond:
            self._pending_scale *= float(factor)

    def set_delay(self, seconds: float) -> None:
        """Slow motion: wait this long before every update (0 is full speed)."""
        self.delay = max(float(seconds), 0.0)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set() or _INTERRUPTED.is_set()

    @property
    def paused(self) -> bool:
        return self._paused

    # -- called from the training thread
    def checkpoint(self) -> bool:
        """Block while paused; False once a stop was requested (here or by :func:`interrupt_all`)."""
        if self._stop.is_set() or _INTERRUPTED.is_set():
            return False
        if self._paused:
            with self._cond:
                while self._paused and self._budget == 0 and not self.stopped:
                    self._cond.wait(0.05)
                if self._paused and self._budget > 0:
                    self._budget -= 1
        if self.delay > 0:
            self._stop.wait(self.delay)
        return not self.stopped

    def take_lr(self) -> float | None:
        lr, self._pending_lr = self._pending_lr, None
        return lr

    def take_lr_scale(self) -> float:
        """The factor asked for by :meth:`scale_lr` since the last call (1.0: none)."""
        if self._pending_scale == 1.0:  # the usual case, without the lock (called every update)
            return 1.0
        with self._cond:
            scale, self._pending_scale = self._pending_scale, 1.0
        return scale
