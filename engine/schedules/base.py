"""What every schedule part shares: the config base (warm-up) and the part interface.

A schedule *part* (one module of :mod:`engine.schedules`) holds its config schema entry
(a frozen :class:`ScheduleSettings` subclass tagged by ``kind``), how it builds its
``torch.optim.lr_scheduler`` (or its own scheduler object) for the main phase after the
warm-up, whether it steps per update or per epoch, and its preview: whether the planned LR
can be drawn before the run and the rule in words shown under the preview. The frame,
:class:`engine.optim.LRSchedule` (warm-up, hand-over, plateau stepping, LR scaling), works
for every registered part; :func:`engine.optim.lr_preview` previews any of them.

Modules here import torch only inside functions (the config schema imports them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from ..schema import MAX_STEPS, Frozen

if TYPE_CHECKING:
    import torch

__all__ = ["ScheduleSettings", "SchedulePart"]


class ScheduleSettings(Frozen):
    """What every schedule config has: the linear warm-up in front of it, then its ``kind`` tag
    (in this order: the order of the fields in forms and files)."""

    warmup_steps: int = Field(
        0, ge=0, le=MAX_STEPS, description="linear warm-up over this many updates, then the schedule starts"
    )
    warmup_start_factor: float = Field(0.01, gt=0.0, le=1.0)
    kind: str


class SchedulePart:
    """One schedule kind: everything the engine and the window need of it (see the module).

    Parts are used as classes (no instances): the registry lists them in
    :data:`engine.schedules.REGISTRY`.
    """

    #: the config schema entry (its ``kind`` default is the part's tag)
    config: ClassVar[type[ScheduleSettings]]
    #: the name shown in the Schedule panel's chooser
    title: ClassVar[str]
    #: stepped after every epoch (else after every update)
    per_epoch: ClassVar[bool] = False
    #: stepped on a monitored metric (``cfg.monitor``) after every epoch: its LR depends on
    #: the run, so it has no preview curve (the rule in words stands in for it)
    metric_driven: ClassVar[bool] = False
    #: Schedule-panel labels of this kind's own fields (field name: label)
    labels: ClassVar[dict[str, str]] = {}
    #: sets the learning rates itself (its bounds, not the optimizer's ``lr``; run labels say so)
    sets_rate: ClassVar[bool] = False

    @classmethod
    def kind(cls) -> str:
        return str(cls.config.model_fields["kind"].default)

    @classmethod
    def build(cls, optimizer: torch.optim.Optimizer, cfg: Any, remaining: int) -> Any:
        """The scheduler of the main phase on ``optimizer`` (None: the rate stays), which
        starts after the warm-up and has ``remaining`` updates to go."""
        raise NotImplementedError

    @classmethod
    def words(cls, cfg: Any) -> str:
        """The schedule in a few words with the numbers that shape it (run labels, the Runs tab)."""
        return cls.kind().replace("_", " ")

    @classmethod
    def rule(cls, cfg: Any, steps_per_epoch: int) -> str:
        """The schedule's rule in words, shown under the preview ("" when the curve says it all)."""
        return ""
