"""A toy optimizer part, written as docs/extending.md says: Rprop (``torch.optim.Rprop``).

It has no batched twin: it declares why, and the runner reports it. Registered by
tests/engine/test_extending.py (one row in ``engine.optimizers.REGISTRY``).
"""

from __future__ import annotations

from typing import Any, Literal

from optiscope.engine.optimizers.base import OptimizerPart, OptimizerSettings
from optiscope.engine.schema import LR
from pydantic import Field


class Rprop(OptimizerSettings):
    """``torch.optim.Rprop``: steps by the gradient's sign, each weight with its own step size."""

    kind: Literal["rprop"] = "rprop"
    lr: LR = 0.01
    eta_minus: float = Field(0.5, gt=0.0, lt=1.0)
    eta_plus: float = Field(1.2, gt=1.0, le=10.0)


class RpropPart(OptimizerPart):
    config = Rprop
    title = "Rprop"
    torch_name = "Rprop"
    trains_alone = "its per-weight step sizes follow sign changes (no vectorised twin yet)"
    labels = {"eta_minus": "η− (shrink)", "eta_plus": "η+ (grow)"}
    race = (("Rprop", lambda s, a: Rprop(lr=a), False),)

    @classmethod
    def torch_kwargs(cls, cfg: Any) -> dict[str, Any]:
        return {"lr": cfg.lr, "etas": (cfg.eta_minus, cfg.eta_plus)}

    @classmethod
    def effective_lr(cls, group: dict, state: dict, p: Any, lr: float) -> Any:
        """Each weight's own step size: the step it takes along the gradient's sign."""
        return state["step_size"].double()
