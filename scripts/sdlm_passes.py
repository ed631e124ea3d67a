"""Watch one-sample SDLM training pass by pass on a validation split (never the test set).

The figures docs/recipes.md gives for the 1998 nets' passes (training error every 10,000 samples,
validation error, each layer's curvature estimate and the share of its units in tanh's flat
region) come from this script. It trains with the project's own SDLM and compiled one-sample step
(`landmarks.train.sdlm`, `landmarks.train.steps.compiled_sdlm`) on MNIST's first 50,000 training
images and validates on the last 10,000, as Simard et al. 2003 split them.

    OMP_NUM_THREADS=1 python scripts/sdlm_passes.py --passes 2              # the paper profile's recipe
    OMP_NUM_THREADS=1 python scripts/sdlm_passes.py --passes 2 --mu 0.2     # a sensitivity check

About 75 s a pass on one thread of the 2-core Xeon. `--samples` shortens each pass (a smoke test).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from landmarks.data.loaders import to_device
from landmarks.data.prepare import load_prepared
from landmarks.models.lenet1998_layers import S
from landmarks.models.registry import create_model
from landmarks.train.losses import compute_loss
from landmarks.train.recipe import LECUN1998_SCHEDULE
from landmarks.train.schedules import lr_factor
from landmarks.train.sources.device import evaluate
from landmarks.train.sdlm import SDLM
from landmarks.train.steps.compiled_sdlm import CompiledSDLMStep

FLAT = 0.01  # a unit counts as saturated where f'(a) is below 1% of its peak A * S


def flat_shares(model: torch.nn.Module, x: torch.Tensor, layers: list[str]) -> dict[str, float]:
    """Per named layer, the share of its (pre-squashing) outputs on `x` where f' < FLAT x its peak."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [getattr(model, n).register_forward_hook(lambda _m, _i, out, n=n: seen.__setitem__(n, out.detach()))
             for n in layers]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return {n: float((1 - torch.tanh(S * a).pow(2) < FLAT).float().mean()) for n, a in seen.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lenet5-1998")
    ap.add_argument("--loss", default="rbf_map", help="rbf_map for LeNet-5, mse_pm1 for the others")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--samples", type=int, default=0, help="samples per pass (0: all 50,000)")
    ap.add_argument("--mu", type=float, default=0.02)
    ap.add_argument("--lr", type=float, default=0.0005, help="the global rate of the first passes")
    ap.add_argument("--data", type=Path, default=Path("data"))
    a = ap.parse_args()

    d = to_device(load_prepared("mnist", a.data), 1 / 6, "lecun", torch.device("cpu"), val_split="last")
    torch.manual_seed(a.seed)
    model = create_model(a.model, d.in_shape, 10)
    criterion = lambda out, y: compute_loss(out.float(), y, a.loss)  # noqa: E731
    opt = SDLM(model.parameters(), lr=a.lr, mu=a.mu)
    step = CompiledSDLMStep(model, opt, criterion)
    squashed = [n[:-2] for n, _ in model.named_children() if n.endswith("_f")]
    order = torch.Generator().manual_seed(1000 + a.seed)
    n = a.samples or len(d.y_train)
    print(f"{a.model}, seed {a.seed}, mu {a.mu}: {n} samples a pass, validation on {len(d.y_val)}", flush=True)
    factor = lr_factor(LECUN1998_SCHEDULE, steps_per_epoch=1)  # the paper's rates per pass, as factors
    for p in range(a.passes):
        lr = a.lr * factor(p)
        opt.param_groups[0]["lr"] = lr
        idx = torch.randperm(len(d.y_train), generator=order)
        opt.estimate_curvature(model, d.x_train[idx[:500]], d.y_train[idx[:500]], criterion)
        print(f"pass {p + 1}: global rate {lr:g}; per layer: median h, rates eta/(mu+h) min..max", flush=True)
        for name, w in model.named_parameters():
            h = opt.state[w]["h"]
            print(f"    {name:10s} h {float(h.median()):9.3g}   rates {lr / (a.mu + float(h.max())):.2e}..{lr / (a.mu + float(h.min())):.2e}")
        shares = flat_shares(model, d.x_train[:1000], squashed)
        print("    flat (f' < 1% of peak): " + ", ".join(f"{k} {v:.3f}" for k, v in shares.items()), flush=True)
        t0, wrong = time.time(), 0
        for k in range(n):
            i = idx[k]
            _, out = step(d.x_train[i:i + 1], d.y_train[i:i + 1])
            wrong += int(out.argmax(1)[0] != d.y_train[i])
            if (k + 1) % 10000 == 0 or k + 1 == n:
                span = (k % 10000) + 1
                print(f"  {k + 1:6d}: training error over the last {span} samples {100 * wrong / span:5.2f}%  ({time.time() - t0:.0f} s)", flush=True)
                wrong = 0
        with torch.no_grad():
            val = evaluate(model, d.x_val, d.y_val, ks=(1,))["top1_error"]
        model.train()  # evaluate() leaves eval mode
        print(f"end of pass {p + 1}: validation error {val:.2f}%", flush=True)


if __name__ == "__main__":
    main()
