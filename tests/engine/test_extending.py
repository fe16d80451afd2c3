"""docs/extending.md, proved: a new optimizer and a new schedule are each one file and one
registry row, and the frame validates, builds, batches (or reports alone), previews and
reads them in the Inside tab without another change.

The toy parts (tests/engine/toy_parts/) are registered in a fresh interpreter before the
config schema is first built, exactly as a row in the registry table would be. The
reference values are torch's own: ``torch.optim.Rprop`` state and
``torch.optim.lr_scheduler.LinearLR`` driven directly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOYS = Path(__file__).parent / "toy_parts"

SCRIPT = r"""
import json, sys
sys.path.insert(0, TOYS)
from optiscope.engine import optimizers, schedules
from rprop import RpropPart
from linear_decay import LinearDecayPart

optimizers.REGISTRY[RpropPart.kind()] = RpropPart          # the one row each
schedules.REGISTRY[LinearDecayPart.kind()] = LinearDecayPart

import torch
from optiscope.engine import config as C
from optiscope.engine.config import ConfigError, loads_toml
from optiscope.engine.inside import torch_effective_lr
from optiscope.engine.optim import build_optimizer, lr_preview
from optiscope.engine.runner import plan_batches
from optiscope.engine.sweep import train_batched
from optiscope.engine.trainer import prepare, train

out = {}
# validated: from an experiment file, with field-named errors
exp = loads_toml('''
[base.dataset]
name = "blobs"
n_samples = 200
[base.training]
epochs = 3
batch_size = 8
[base.optimizer]
kind = "rprop"
lr = 0.01
eta_plus = 1.3
[base.schedule]
kind = "linear_decay"
end_factor = 0.2
[[variations]]
optimizer = { eta_minus = 0.4 }
[[variations]]
optimizer = { eta_minus = 0.6 }
''', "toy.toml")
run = exp.base
out["kinds"] = [C.OPTIMIZER_KINDS, C.SCHEDULE_KINDS]
out["types"] = [type(run.optimizer).__name__, type(run.schedule).__name__]
out["round_trip"] = C.loads_toml(C.dumps_toml(exp)) == exp
try:
    loads_toml('[base.optimizer]\nkind = "rprop"\neta_plus = 0.5\n', "bad.toml")
except ConfigError as exc:
    out["bad_value"] = str(exc)
try:
    loads_toml('[base.optimizer]\nkind = "rpropp"\n', "bad.toml")
except ConfigError as exc:
    out["bad_kind"] = str(exc)
out["titles"] = [optimizers.panel_titles()["rprop"], schedules.panel_titles()["linear_decay"]]
out["labels"] = [optimizers.panel_labels()["eta_plus"], schedules.panel_labels()["end_factor"]]
out["race"] = [r[0] for r in optimizers.race_rows()][-1]

# built: the torch.optim class with every hyperparameter
opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], run.optimizer)
out["built"] = [type(opt).__name__, list(opt.param_groups[0]["etas"]), opt.param_groups[0]["lr"]]

# batched, or reported alone with the part's declared reason
groups, alone = plan_batches(exp.runs())
out["alone"] = [groups, {str(k): v for k, v in alone.items()}]

# previewed: the preview is the rate training uses, and LinearLR driven directly agrees
res = train(run, stats_every=8)
out["preview_is_training"] = lr_preview(run.optimizer, run.schedule, 13, 3) == res.step_lr.tolist()
p = torch.nn.Parameter(torch.zeros(1))
o = torch.optim.SGD([p], lr=0.01)
ref = torch.optim.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=39)
want = []
for _ in range(39):
    want.append(o.param_groups[0]["lr"])
    o.step()
    ref.step()
out["preview_is_linear_lr"] = res.step_lr.tolist() == want
out["rule"] = LinearDecayPart.rule(run.schedule, 13)

# a toy schedule batches: the same rates alone and batched
sgd = [run.model_copy(update={"optimizer": C.SGD(lr=0.05)}), run.model_copy(update={"optimizer": C.Adam()})]
batched = train_batched(sgd, [0, 1])
out["batched_equal"] = all(b.step_lr.tolist() == train(c).step_lr.tolist() for b, c in zip(batched, sgd))

# read by Inside: the effective rate is Rprop's own per-weight step size
p = prepare(run)
x, y = p.x_train[:8], p.y_train[:8]
for _ in range(3):
    p.optimizer.zero_grad()
    torch.nn.functional.cross_entropy(p.model(x), y).backward()
    p.optimizer.step()
eff = torch_effective_lr(p.optimizer, 0.01)[0].double()
sizes = torch.cat([p.optimizer.state[q]["step_size"].reshape(-1) for q in p.model.parameters()]).double()
out["inside_equal"] = bool(torch.equal(eff, sizes.float().double()))
out["inside_varies"] = float(sizes.max() / sizes.min())
out["layer_stats"] = len(res.layers) > 0 and bool((res.layers[-1].effective_lr > 0).all())
print("RESULT " + json.dumps(out))
"""


def test_a_toy_optimizer_and_schedule_are_one_file_and_one_row_each():
    code = f"TOYS = {str(TOYS)!r}\n" + SCRIPT
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    out = json.loads(line[len("RESULT ") :])
    kinds_o, kinds_s = out["kinds"]
    assert "rprop" in kinds_o and "linear_decay" in kinds_s
    assert out["types"] == ["Rprop", "LinearDecay"] and out["round_trip"]
    assert (
        out["bad_value"]
        == "bad.toml is invalid: base.optimizer.eta_plus: Input should be greater than 1 (got 0.5)"
    )
    assert "'rprop'" in out["bad_kind"]  # the unknown kind's message lists the toy among the allowed
    assert out["titles"] == ["Rprop", "Linear decay"] and out["labels"] == ["η+ (grow)", "End factor"]
    assert out["race"] == "Rprop"
    assert out["built"] == ["Rprop", [0.5, 1.3], 0.01]
    groups, alone = out["alone"]
    assert groups == [] and set(alone) == {"0", "1"}
    assert all(
        v.startswith("optimizer rprop: its per-weight step sizes follow sign changes") for v in alone.values()
    )
    assert out["preview_is_training"] and out["preview_is_linear_lr"]
    assert out["rule"].startswith("Falls in a straight line to 0.2")
    assert out["batched_equal"]
    assert out["inside_equal"] and out["inside_varies"] > 1.0
    assert out["layer_stats"]
