"""The optimizers of issue 21 (RAdam, Adafactor, Muon) against ``torch.optim`` and the papers.

The registry walk (``test_optimizer_parts.py``) checks the schema, builder and batched twin of
every part on one flat vector; here: the paths that walk does not reach (options with weight
decay on; Muon's and Adafactor's twins on a row split into matrices and vectors), the twins
over more than 50 updates for every exposed option with three runs of different options in
one group, and whole runs batched against the same runs alone.
"""

from __future__ import annotations

import math

import pytest
import torch
from optiscope.engine import config as C
from optiscope.engine.batched_optim import build_batched_optimizer, optimizer_group_key
from optiscope.engine.inside import torch_effective_lr
from optiscope.engine.optimizers import REGISTRY
from optiscope.engine.optimizers.adafactor import Adafactor as AF
from optiscope.engine.optimizers.radam import RAdam

torch.set_num_threads(1)
D, STEPS = 24, 60


def grad(w: torch.Tensor, k: int) -> torch.Tensor:
    w = w.detach().clone().requires_grad_(True)
    i = torch.arange(w.shape[-1], dtype=torch.float32)
    (torch.log1p((w - torch.sin(i + k)) ** 2) * (1 + i / 4)).sum().backward()
    assert w.grad is not None
    return w.grad


@pytest.mark.parametrize(
    "cfg",
    [
        RAdam(),
        RAdam(weight_decay=0.05),
        RAdam(weight_decay=0.05, decoupled_weight_decay=True),
        RAdam(lr=0.01, beta1=0.5, beta2=0.9, eps=1e-6),
        RAdam(beta2=0.99, decoupled_weight_decay=True, weight_decay=0.1),
    ],
)
def test_batched_radam_matches_torch_for_every_option(cfg):
    cfgs = [cfg, cfg.model_copy(update={"lr": cfg.lr * 3})]
    assert len({optimizer_group_key(c) for c in cfgs}) == 1
    start = torch.randn(2, D, generator=torch.Generator().manual_seed(1))
    alone = [torch.nn.Parameter(start[k].clone()) for k in range(2)]
    opts = [
        torch.optim.RAdam([p], **REGISTRY["radam"].torch_kwargs(c)) for p, c in zip(alone, cfgs, strict=True)
    ]
    params, grads = start.clone(), torch.zeros(2, D)
    twin = build_batched_optimizer(cfgs, 0, 2, params)
    for step in range(STEPS):
        lrs = [c.lr * (1 + 0.5 * math.sin(step / 5)) for c in cfgs]
        for k in range(2):
            opts[k].param_groups[0]["lr"] = lrs[k]
            alone[k].grad = grad(alone[k], k)
            opts[k].step()
            grads[k] = grad(params[k], k)
        twin.step(params, grads, lrs)
        if step in (2, STEPS - 1):  # before (rho_t <= 5) and after the rectification starts
            for k in range(2):
                torch.testing.assert_close(
                    twin.effective_lr(lrs)[k],
                    torch_effective_lr(opts[k], lrs[k])[0].double(),
                    rtol=1e-4,
                    atol=0,
                )
    for k in range(2):
        assert float((params[k] - alone[k].detach()).abs().max()) <= 1e-5


def test_radam_rectification_matches_the_paper():
    """Liu et al. (2020), Algorithm 2: rho_inf = 2/(1-b2) - 1, rho_t = rho_inf - 2t b2^t/(1-b2^t);
    with b2 = 0.999 the first five updates are un-rectified (rho_t <= 5), the sixth is not."""
    from optiscope.engine.optimizers.radam import radam_terms

    rho = [radam_terms(0.999, t)[0] for t in range(1, 8)]
    assert [r > 5 for r in rho] == [False] * 5 + [True] * 2
    rho_inf = 2 / 0.001 - 1
    t = 100
    rho_t = rho_inf - 2 * t * 0.999**t / (1 - 0.999**t)
    r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    assert radam_terms(0.999, t) == pytest.approx((rho_t, r), rel=1e-12)


def test_radam_runs_batched_in_a_race():
    from optiscope.engine.runner import plan_batches

    runs = [C.RunConfig(optimizer=RAdam(lr=lr)) for lr in (1e-3, 1e-2)]
    groups, alone = plan_batches(runs)
    assert groups == [[0, 1]] and alone == {}


def _two_layer_steps(part_kind: str, cfg, steps: int = 8):
    """A 2-layer MLP trained ``steps`` updates by the part's torch builder; the last update's
    weights before/after and the gradient, per parameter."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    opt = REGISTRY[part_kind].build(list(model.parameters()), cfg)
    for _ in range(steps):
        before = [p.detach().clone() for p in model.parameters()]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    after = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.detach().clone() for p in model.parameters()]
    return model, opt, before, after, grads


def test_adafactor_inside_reading_is_the_step_it_took():
    """Adafactor's effective rate times the gradient is the step torch.optim.Adafactor took
    (with weight decay, the decay's share taken off first): -(W_after - W_before) / g, element by element, for the factored
    matrices and the full-moment biases alike, with and without weight decay."""
    from optiscope.engine.optimizers.adafactor import Adafactor

    for cfg in (Adafactor(), Adafactor(lr=0.05, d=1.5, beta2_decay=-0.5, eps2=1e-2, weight_decay=0.1)):
        model, opt, before, after, grads = _two_layer_steps("adafactor", cfg)
        assert type(opt) is torch.optim.Adafactor
        eff = torch_effective_lr(opt, cfg.lr)[0].double()
        keep = 1 - cfg.lr * cfg.weight_decay
        taken = torch.cat(
            [((b * keep - a) / g).reshape(-1) for b, a, g in zip(before, after, grads, strict=True)]
        )
        mask = torch.cat([g.reshape(-1).abs() > 1e-6 for g in grads])
        torch.testing.assert_close(eff[mask], taken.double()[mask], rtol=1e-4, atol=0)
        assert "row_var" in opt.state[model[0].weight]  # the matrices are factored


# --------------------------------------------------------------------------- shaped twins
#: a row's parameters as a dense -> batch norm -> dense MLP holds them: a tall matrix, vectors,
#: a wide matrix (Muon transposes the tall one; Adafactor factors both)
SHAPES = [(24, 6), (24,), (24,), (24,), (10, 24), (10,)]
ROW = sum(math.prod(s) for s in SHAPES)


def _split(row: torch.Tensor) -> list[torch.Tensor]:
    out, off = [], 0
    for s in SHAPES:
        out.append(row[off : off + math.prod(s)].view(s))
        off += math.prod(s)
    return out


def _race_twin(kind, cfgs, grad_of, steps=60, reference=None):
    """``cfgs`` (one group, K >= 3 runs, each its own options) stepped ``steps`` times by the
    batched twin over one (K, ROW) tensor with the row's shapes, and one ``torch.optim``
    optimizer per run (``reference``, default the part's builder) at rates that change every
    step; returns the largest weight difference and the twin and references."""
    assert len(cfgs) >= 3 and len({optimizer_group_key(c) for c in cfgs}) == 1
    start = torch.randn(len(cfgs), ROW, generator=torch.Generator().manual_seed(5)) * 0.3
    alone = [[torch.nn.Parameter(t.clone()) for t in _split(start[k])] for k in range(len(cfgs))]
    build = reference or (lambda ps, c: REGISTRY[kind].build(ps, c))
    opts = [build(ps, c) for ps, c in zip(alone, cfgs, strict=True)]
    params, grads = start.clone(), torch.zeros_like(start)
    twin = build_batched_optimizer(cfgs, 0, len(cfgs), params, SHAPES)
    lrs: list[float] = []
    for step in range(steps):
        lrs = [c.lr * (1 + 0.5 * math.sin(step / 5)) for c in cfgs]
        for k in range(len(cfgs)):
            for group in opts[k].param_groups:
                group["lr"] = lrs[k]
            flat = grad_of(torch.cat([p.detach().reshape(-1) for p in alone[k]]), k, step)
            for p, g in zip(alone[k], _split(flat), strict=True):
                p.grad = g.clone()
            opts[k].step()
            grads[k] = grad_of(params[k], k, step)
        twin.step(params, grads, lrs)
    diff = max(
        float((params[k] - torch.cat([p.detach().reshape(-1) for p in alone[k]])).abs().max())
        for k in range(len(cfgs))
    )
    return diff, twin, opts, alone, lrs


ADAFACTOR_GROUPS = [
    [
        AF(),
        AF(lr=0.05, d=1.5, beta2_decay=-0.5, weight_decay=0.1),
        AF(lr=0.001, eps1=1e-3, eps2=0.0, beta2_decay=-1.0),
    ],
    [
        AF(lr=0.1, eps2=0.1),
        AF(lr=0.02, weight_decay=0.5, eps1=1e-10, d=1.0),
        AF(beta2_decay=-0.2, d=3.0, eps2=0.5),
    ],
]


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("cfgs", ADAFACTOR_GROUPS)
def test_batched_adafactor_matches_torch_for_every_option(cfgs, foreach):
    """Three runs of different options in one group, the gradient following the weights: after
    60 updates each row equals torch.optim.Adafactor alone (its default single-tensor path and
    its foreach path) within 1e-5 (the run with eps1 = 1e-3 gets gradients small enough for
    that floor to act), and the Inside reading (alpha / clip / sqrt(v_hat), the
    matrices' v_hat rebuilt from row and column averages) equals the alone one."""

    def grad_of(w: torch.Tensor, k: int, step: int) -> torch.Tensor:
        w = w.detach().clone().requires_grad_(True)
        i = torch.arange(w.shape[-1], dtype=torch.float32)
        (torch.log1p((w - torch.sin(i + k)) ** 2) * (1 + (i % 7) / 4)).sum().backward()
        assert w.grad is not None
        return w.grad * 1e-4 if cfgs[k].eps1 == 1e-3 else w.grad  # squares under eps1^2: its floor acts

    def reference(ps, c):
        return torch.optim.Adafactor(ps, **REGISTRY["adafactor"].torch_kwargs(c), foreach=foreach)

    diff, twin, opts, alone, lrs = _race_twin("adafactor", cfgs, grad_of, reference=reference)
    assert diff <= 1e-5, f"weights differ by {diff:.3g} after 60 updates"
    for k, opt in enumerate(opts):
        assert "row_var" in opt.state[alone[k][0]] and "variance" in opt.state[alone[k][1]]
        torch.testing.assert_close(
            twin.effective_lr(lrs)[k],
            torch_effective_lr(opt, lrs[k], alone[k])[0].double(),
            rtol=1e-4,
            atol=0,
        )


def _muon_groups() -> list[list]:
    M = C.OPTIMIZER_CLASSES["muon"]
    return [
        [  # Nesterov, 5 steps; both rate scalings, three momenta, weight decay on and off
            M(),
            M(lr=0.02, adjust_lr_fn="original", momentum=0.9, eps=1e-6, weight_decay=0.01),
            M(lr=0.005, weight_decay=0.0, momentum=0.5),
        ],
        [  # plain momentum (and none), 3 steps; run 2's tiny gradients fall under its eps
            M(nesterov=False, ns_steps=3),
            M(nesterov=False, ns_steps=3, lr=0.02, adjust_lr_fn="original", momentum=0.0),
            M(nesterov=False, ns_steps=3, eps=1e-3, momentum=0.99, weight_decay=0.3),
        ],
        [M(ns_steps=1), M(ns_steps=1, lr=0.003, adjust_lr_fn="original"), M(ns_steps=1, momentum=0.8)],
        [M(ns_steps=10, eps=1e-3), M(ns_steps=10, lr=0.01), M(ns_steps=10, weight_decay=0.0, momentum=0.7)],
    ]


@pytest.mark.parametrize("group", range(4))
def test_batched_muon_matches_torch_for_every_option(group):
    """Three runs of different options in one group (every exposed option: nesterov both ways,
    ns_steps 1/3/5/10, eps, both adjust_lr_fn values, momentum, weight decay): after 60 updates
    each row equals torch.optim.Muon on the matrices + torch.optim.AdamW on the vectors within
    1e-5, and the Inside reading (a matrix's step scale, AdamW's rate elsewhere) is the alone one.

    The gradients are a fixed random stream per run, not the weights' own: torch iterates
    Newton–Schulz in bfloat16, where one tie rounded the other way by a different matrix kernel
    (see ``test_batched_newton_schulz_is_torchs_iteration``) would grow through a gradient that
    follows the weights into a difference of 1e-4; this way the check is of the update itself."""
    cfgs = _muon_groups()[group]

    def grad_of(w: torch.Tensor, k: int, step: int) -> torch.Tensor:
        g = torch.randn(ROW, generator=torch.Generator().manual_seed(1000 * k + step))
        return g * 1e-5 if cfgs[k].eps == 1e-3 and group == 1 else g

    diff, twin, opts, alone, lrs = _race_twin("muon", cfgs, grad_of)
    assert diff <= 1e-5, f"weights differ by {diff:.3g} after 60 updates"
    for k, opt in enumerate(opts):
        assert "momentum_buffer" in opt.state[alone[k][0]] and "exp_avg" in opt.state[alone[k][1]]
        torch.testing.assert_close(
            twin.effective_lr(lrs)[k],
            torch_effective_lr(opt, lrs[k], alone[k])[0].double(),
            rtol=1e-4,
            atol=0,
        )
    if group == 1:  # the tiny gradients: the iteration divided by eps, not by their norm
        tiny = torch.randn(1, 24, 6) * 1e-9
        from optiscope.engine.optimizers.muon import newton_schulz

        eps = torch.full((1, 1, 1), 1e-3)
        assert float(newton_schulz(tiny, 3, eps).float().abs().max()) < 1e-4


def test_batched_newton_schulz_is_torchs_iteration():
    """The twin's Newton–Schulz on (n, A, B) by torch.bmm / baddbmm, against
    torch.optim.Muon's own ``_zeropower_via_newtonschulz`` matrix by matrix: bfloat16, as
    torch's; bit for bit for most matrices, and otherwise one bfloat16 rounding apart (torch's
    addmm rounds b·G + c·G² with a fused multiply-add, the batched kernel for small matrices
    without: a tie can round the other way)."""
    from optiscope.engine.optimizers.muon import NS_COEFFICIENTS, newton_schulz
    from torch.optim._muon import DEFAULT_A, DEFAULT_B, DEFAULT_C, _zeropower_via_newtonschulz

    assert NS_COEFFICIENTS == (DEFAULT_A, DEFAULT_B, DEFAULT_C)
    gen = torch.Generator().manual_seed(0)
    same = total = 0
    for shape in [(24, 6), (10, 24), (64, 64), (128, 64), (10, 128)]:
        for steps in (1, 5):
            g = torch.randn(6, *shape, generator=gen) * torch.logspace(-3, 2, 6).view(-1, 1, 1)
            eps = torch.full((6, 1, 1), 1e-7)
            got = newton_schulz(g, steps, eps)
            assert got.dtype == torch.bfloat16
            for i in range(6):
                want = _zeropower_via_newtonschulz(g[i], NS_COEFFICIENTS, steps, 1e-7)
                total += 1
                same += int(torch.equal(got[i], want))
                torch.testing.assert_close(got[i].float(), want.float(), rtol=2**-7, atol=1e-3)
    assert same >= 0.95 * total, f"only {same} of {total} matrices bit for bit"


def _execute_runs(kind: str) -> list:
    opts = {
        "adafactor": [
            {},
            {"lr": 0.05, "d": 1.5, "beta2_decay": -0.5, "weight_decay": 0.1},
            {"lr": 0.003, "eps2": 0.01},
        ],
        "muon": [  # asking for the twin (Muon runs train alone by default)
            {"lr": 0.01, "batched": True},
            {"lr": 0.003, "adjust_lr_fn": "original", "momentum": 0.9, "weight_decay": 0.0, "batched": True},
            {"lr": 0.02, "eps": 1e-6, "nesterov": False, "batched": True},
        ],
    }[kind]
    scheds = [{"kind": k} for k in ("wsd", "linear", "polynomial", "multistep", "inverse_sqrt")]
    scheds[1]["warmup_steps"] = 5
    layers = [{"type": "dense", "units": 32}, {"type": "batchnorm"}, {"type": "dense", "units": 16}]
    return [
        C.RunConfig.model_validate(
            {
                "dataset": {"name": "blobs", "n_samples": 300},
                "model": {"layers": layers},
                "training": {"epochs": 4, "batch_size": 16, "device": "cpu"},
                "optimizer": {"kind": kind, **o},
                "schedule": s,
            }
        )
        for o in opts
        for s in scheds
    ]


def _worst_epoch_gap(runs) -> tuple[float, list[str]]:
    from optiscope.engine.runner import execute

    log: list[str] = []
    batched = execute(runs, log=log.append)
    alone = execute(runs, batched=False)
    gap = max(
        abs(a.train_loss - b.train_loss)
        for ra, rb in zip(alone, batched, strict=True)
        for a, b in zip(ra.epochs, rb.epochs, strict=True)
    )
    assert all(len(ra.epochs) == 4 for ra in alone)
    return gap, log


def test_adafactor_trains_batched_with_the_new_schedules_as_alone():
    """15 Adafactor runs (3 option sets x wsd, linear with warm-up, polynomial, multistep,
    inverse_sqrt) train as one batch, each epoch's training loss within 1e-4 of the run alone."""
    runs = _execute_runs("adafactor")
    gap, log = _worst_epoch_gap(runs)
    assert log == [f"runs {', '.join(map(str, range(15)))} batched together"]
    assert gap <= 1e-4, f"train loss differs by {gap:.3g}"


def _float32_newton_schulz(monkeypatch):
    """torch's Newton–Schulz and the twin's, both in float32 instead of bfloat16 (a control)."""
    import torch.optim._muon as torch_muon
    from optiscope.engine.optimizers import muon

    a, b, c = muon.NS_COEFFICIENTS

    def single(grad, coefficients, steps, eps):
        x = grad.float()
        x = x.T if grad.size(0) > grad.size(1) else x
        x = x / x.norm().clamp(min=eps)
        for _ in range(steps):
            gram = x @ x.T
            x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
        return x.T if grad.size(0) > grad.size(1) else x

    def batched(g, steps, eps):  # the twin's batched products, in float32
        x = g.float()
        tall = g.size(-2) > g.size(-1)
        x = x.transpose(-2, -1) if tall else x
        x = x / torch.maximum(torch.linalg.vector_norm(x, dim=(-2, -1), keepdim=True), eps)
        for _ in range(steps):
            gram = torch.bmm(x, x.transpose(-2, -1))
            x = torch.baddbmm(x, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
        return x.transpose(-2, -1) if tall else x

    monkeypatch.setattr(torch_muon, "_zeropower_via_newtonschulz", single)
    monkeypatch.setattr(muon, "newton_schulz", batched)


def test_muon_trains_batched_with_the_new_schedules_as_alone(monkeypatch):
    """15 Muon runs asking for the twin (``batched = true``; 3 option sets, the new schedules)
    train as one batch (two optimizer groups: Nesterov on and off). Batched and alone, torch's
    bfloat16 Newton–Schulz turns the float32 rounding differences of the two engines' gradients
    into training losses up to ~5e-4 apart on this small problem -- why Muon runs train alone
    unless they ask; with the iteration in float32 on both sides the same runs agree within
    1e-4 per epoch: the twin's arithmetic is the alone run's."""
    runs = _execute_runs("muon")
    gap, log = _worst_epoch_gap(runs)
    assert f"runs {', '.join(map(str, range(15)))} batched together" in log
    assert gap <= 2e-3, f"train loss differs by {gap:.3g} with bfloat16 Newton–Schulz"
    _float32_newton_schulz(monkeypatch)
    gap32, _ = _worst_epoch_gap(runs)
    assert gap32 <= 1e-4, f"train loss differs by {gap32:.3g} with float32 Newton–Schulz"


def test_adafactor_trains_batched_and_muon_only_when_asked_in_optiscope_run(tmp_path, monkeypatch, capsys):
    """Adafactor runs join the batch; a Muon run trains alone and says why, unless it asks for
    the twin with ``batched = true``, and then it joins the same batch."""
    from optiscope.engine.cli import main
    from optiscope.engine.runner import plan_batches

    runs = [
        C.RunConfig(optimizer=C.OPTIMIZER_CLASSES[k](lr=lr, **extra))
        for k, extra in (("adafactor", {}), ("muon", {}), ("muon", {"batched": True}))
        for lr in (1e-3, 1e-2)
    ]
    groups, alone = plan_batches(runs)
    assert groups == [[0, 1, 4, 5]] and set(alone) == {2, 3}
    assert alone[2].startswith("optimizer muon: Muon's bfloat16 Newton–Schulz step")
    assert "set the optimizer's batched = true to batch it" in alone[2]
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    f = tmp_path / "a.toml"
    f.write_text(
        '[base.dataset]\nname = "blobs"\nn_samples = 200\n[base.training]\nepochs = 2\nbatch_size = 16\n'
        'device = "cpu"\n[base.optimizer]\nkind = "adafactor"\n[base.schedule]\nkind = "wsd"\n'
        "[[variations]]\noptimizer = { lr = 0.01 }\n[[variations]]\noptimizer = { lr = 0.001 }\n"
        '[[variations]]\noptimizer = { kind = "muon", lr = 0.01 }\n'
        '[[variations]]\noptimizer = { kind = "muon", lr = 0.01, batched = true }\n'
    )
    assert main(["run", str(f), "--out", str(tmp_path / "o")]) == 0
    _, err = capsys.readouterr()
    assert "runs 0, 1, 3 batched together" in err
    assert "run 2 not batched: optimizer muon: Muon's bfloat16 Newton–Schulz step" in err
    assert "run 2: Muon steps the weight matrices" in err and "run 3: Muon steps the weight matrices" in err


MUON_RACE = (
    '[base.dataset]\nname = "blobs"\nn_samples = 200\n[base.training]\nepochs = 3\nbatch_size = 16\n'
    'device = "cpu"\n[base.model]\nlayers = [{ type = "dense", units = 32 }, { type = "batchnorm" }]\n'
    '[base.optimizer]\nkind = "muon"\nlr = 0.02\n[base.schedule]\nkind = "wsd"\nwarmup_steps = 5\n'
    "[[variations]]\n[[variations]]\noptimizer = { lr = 0.003 }\n"
)


def test_muon_runs_of_one_race_train_alone_as_torch_optim_muon(tmp_path, monkeypatch, capsys):
    """Two Muon runs of one race (they could share a batch) train alone by default: the output
    says why, and each run's per-epoch training and validation losses are those of the run
    trained by itself (Optiscope's one-run path: ``torch.optim.Muon`` on the matrices and
    ``torch.optim.AdamW`` on the rest, ``test_muon_steps_matrices_and_adamw_the_rest_as_torch_documents``),
    to the bit. Batched (``batched = true``), torch's bfloat16 Newton–Schulz turns the batched
    engine's float32 rounding into training losses 4e-5 apart here by epoch 3 at lr 0.02."""
    import csv

    from optiscope.engine.cli import main
    from optiscope.engine.trainer import train

    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    f = tmp_path / "m.toml"
    f.write_text(MUON_RACE)
    assert main(["run", str(f), "--out", str(tmp_path / "o")]) == 0
    _, err = capsys.readouterr()
    assert "batched together" not in err
    for i in (0, 1):
        assert (
            f"run {i} not batched: optimizer muon: Muon's bfloat16 Newton–Schulz step turns the "
            "batched computation's float rounding into ~5e-4 train-loss differences; trained alone "
            "it matches torch.optim.Muon" in err
        )
    with open(tmp_path / "o" / "metrics.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, run in enumerate(C.load_toml(f).runs()):
        res = train(run)
        mine = [r for r in rows if r["run"] == str(i)]
        assert [float(r["train_loss"]) for r in mine] == [e.train_loss for e in res.epochs]
        assert [float(r["val_loss"]) for r in mine] == [e.val_loss for e in res.epochs]
        assert len(mine) == 3


def newton_schulz(g: torch.Tensor, steps: int, eps: float) -> torch.Tensor:
    """Jordan (2024), "Muon: An optimizer for hidden layers", the quintic iteration written
    out: X = G / (||G|| + eps), transposed when tall; X <- aX + (bA + cA^2)X with A = XX^T."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.double() / g.double().norm().clamp(min=eps)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    for _ in range(steps):
        m = x @ x.T
        x = a * x + (b * m + c * m @ m) @ x
    return x.T if tall else x


def test_muon_step_is_the_orthogonalised_momentum():
    """One Muon update of a matrix (weight decay off) is -adjusted_lr * NS(g) (Nesterov on the
    first step), with the rate scale of each ``adjust_lr_fn``. torch iterates in bfloat16: the
    update is within 3 % (norm) of the float64 iteration, and its singular values lie in
    (0.5, 1.5), Jordan's "US'V^T" (the gradient's own spread over 10x here)."""
    from optiscope.engine.optimizers.muon import Muon

    g = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    for fn, scale in (("match_rms_adamw", 0.2 * math.sqrt(6)), ("original", math.sqrt(6 / 4))):
        w = torch.nn.Parameter(torch.zeros(6, 4))
        opt = REGISTRY["muon"].build([w], Muon(lr=0.01, weight_decay=0.0, adjust_lr_fn=fn, ns_steps=5))
        w.grad = g.clone()
        opt.step()
        want = (1 - 0.95) * g.double()  # the momentum buffer lerped from zero, then Nesterov's lerp
        want = g.double() + 0.95 * (want - g.double())
        ref = -0.01 * scale * newton_schulz(want, 5, 1e-7)
        got = w.detach().double()
        assert float((got - ref).norm() / ref.norm()) < 0.03
        sv = torch.linalg.svdvals(got / (-0.01 * scale))
        assert float(sv.min()) > 0.5 and float(sv.max()) < 1.5
    sv_g = torch.linalg.svdvals(g.double())
    assert float(sv_g.max() / sv_g.min()) > 2  # the orthogonalisation had something to do


def test_muon_steps_matrices_and_adamw_the_rest_as_torch_documents():
    """Muon on every 2-D weight matrix, AdamW on biases and batch-norm parameters: after 50
    updates the weights equal torch.optim.Muon + torch.optim.AdamW built by hand on the split,
    for every exposed option; each optimizer's state holds exactly its own parameters."""
    from optiscope.engine.optimizers.muon import ADAMW_BETAS, ADAMW_EPS, Muon

    def model() -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
        )

    x, y = torch.randn(64, 6, generator=torch.Generator().manual_seed(1)), torch.arange(64) % 3
    for cfg in (
        Muon(),
        Muon(
            lr=0.02,
            adjust_lr_fn="original",
            nesterov=False,
            momentum=0.9,
            ns_steps=3,
            eps=1e-6,
            weight_decay=0.01,
        ),
    ):
        ours, ref = model(), model()
        opt = REGISTRY["muon"].build(list(ours.parameters()), cfg)
        mats = [p for p in ref.parameters() if p.ndim == 2]
        rest = [p for p in ref.parameters() if p.ndim != 2]
        kw = REGISTRY["muon"].torch_kwargs(cfg)
        refs = [
            torch.optim.Muon(mats, **kw),
            torch.optim.AdamW(
                rest, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=ADAMW_BETAS, eps=ADAMW_EPS
            ),
        ]
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 + 0.5 * math.sin(i / 5))
        for i in range(50):
            for o in refs:
                o.param_groups[0]["lr"] = cfg.lr * (1 + 0.5 * math.sin(i / 5))
            for m, o in ((ours, [opt]), (ref, refs)):
                for q in o:
                    q.zero_grad()
                torch.nn.functional.cross_entropy(m(x), y).backward()
                for q in o:
                    q.step()
            sched.step()
        for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
            assert float((a - b).detach().abs().max()) <= 1e-5
        assert {len(g["params"]) for g in opt.param_groups} == {2, 4}  # 2 matrices; 2 biases + BN's 2
        assert "momentum_buffer" in opt.state[ours[0].weight] and "exp_avg" in opt.state[ours[1].weight]
        # Inside: a matrix's rate is its Muon step scale, the same for every element
        eff = torch_effective_lr(opt, cfg.lr)[0]
        first = eff[: 16 * 6]
        assert torch.all(first == first[0]) and float(first[0]) == pytest.approx(
            cfg.lr * (0.2 * math.sqrt(16) if cfg.adjust_lr_fn == "match_rms_adamw" else math.sqrt(16 / 6)),
            rel=1e-6,
        )


def test_muon_in_optiscope_run_says_which_parameters_each_gets(tmp_path, monkeypatch, capsys):
    from optiscope.engine.cli import main
    from optiscope.engine.trainer import train

    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    f = tmp_path / "m.toml"
    f.write_text(MUON_RACE)
    assert main(["run", str(f), "--out", str(tmp_path / "o")]) == 0
    _, err = capsys.readouterr()
    # the dense layers' weights on Muon; their biases and the batch norm's scale and shift on AdamW
    assert "run 0: Muon steps the weight matrices 0.weight 32×2, 3.weight 3×32; " in err
    assert "AdamW steps 0.bias 32, 2.weight 32, 2.bias 32, 3.bias 3" in err
    # the schedule drives both halves, and what training used is the preview
    from optiscope.engine.optim import lr_preview

    run = C.load_toml(f).runs()[0]
    res = train(run)
    spe = len(res.step_lr) // 3
    assert res.step_lr.tolist() == lr_preview(run.optimizer, run.schedule, spe, 3)
    assert res.epochs[-1].train_loss < res.epochs[0].train_loss


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[base.optimizer]\nkind = "muonn"\n', "'radam', 'adafactor', 'muon'"),
        (
            '[base.optimizer]\nkind = "adafactor"\nd = 0.5\n',
            "base.optimizer.d: Input should be greater than or equal to 1",
        ),
        (
            '[base.optimizer]\nkind = "muon"\nadjust_lr_fn = "x"\n',
            "base.optimizer.adjust_lr_fn: Input should be",
        ),
        ('[base.schedule]\nkind = "wsdd"\n', "'wsd', 'linear', 'polynomial', 'multistep', 'inverse_sqrt'"),
        (
            '[base.schedule]\nkind = "wsd"\ndecay_shape = "sqrt"\n',
            "'linear', 'cosine' or '1-sqrt' (got 'sqrt')",
        ),
    ],
)
def test_validate_names_the_new_kinds_and_fields(tmp_path, capsys, text, message):
    from optiscope.engine.cli import main

    f = tmp_path / "bad.toml"
    f.write_text(text)
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_search_over_muon_trains_its_muon_trials_alone(tmp_path, monkeypatch, capsys):
    """Muon in a search space: its trials train alone (saying why) and complete; Adam trials
    still batch with each other. Each Muon trial's objective is that of its run trained by
    itself (``best.toml`` trained again through the one-run path)."""
    import csv

    from optiscope.engine.cli import main
    from optiscope.engine.search_space import apply_params
    from optiscope.engine.trainer import train

    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    f = tmp_path / "s.toml"
    f.write_text(
        '[base.dataset]\nname = "blobs"\nn_samples = 200\n[base.training]\nepochs = 2\nbatch_size = 16\n'
        'device = "cpu"\n[base.optimizer]\nkind = "adam"\nlr = 0.01\n[search]\nobjective = "final_val_loss"\n'
        'trials = 4\nsampler = "grid"\n[search.params]\n"optimizer.kind" = { choices = ["adam", "muon"] }\n'
        '"optimizer.lr" = { low = 0.001, high = 0.1, log = true, points = [0.01, 0.05] }\n'
    )
    assert main(["search", str(f), "--out", str(tmp_path / "o"), "--batch", "4"]) == 0
    err = capsys.readouterr().err
    with open(tmp_path / "o" / "trials.csv", newline="", encoding="utf-8") as fh:
        trials = list(csv.DictReader(fh))
    assert len(trials) == 4 and {t["state"] for t in trials} == {"complete"}
    muon = [t for t in trials if t["optimizer.kind"] == "muon"]
    assert len(muon) == 2
    assert err.count("not batched: optimizer muon: Muon's bfloat16 Newton–Schulz step") == 2
    assert "batched together" in err  # the two Adam trials
    base = C.load_toml(f).runs()[0]
    for t in muon:  # the trial's run: the base with Adam's section turned into Muon's (lr, eps, decay kept)
        run = apply_params(base, {"optimizer.kind": "muon", "optimizer.lr": float(t["optimizer.lr"])})
        assert run.optimizer.kind == "muon" and not run.optimizer.batched
        assert float(t["final_val_loss"]) == train(run).final.val_loss
