"""CIFAR-10 models and landmarks on the CPU: paper parameter counts, and a few training steps on
generated data in the CIFAR binary format, fetched over HTTP and prepared like the real release."""

import lzma
import tarfile

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from archives import cifar_archive, register_generated_cifar, tar_bytes
from httpserver import Route, Server
from landmarks.catalog import load_catalog, resolve_recipe
from landmarks.models import count_parameters, create_model

# He et al. 2016, Table 6 (millions); a model may be within 3%
PAPER_PARAMS = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85, "resnet110": 1.7, "resnet1202": 19.4}


@pytest.mark.parametrize("name", list(PAPER_PARAMS))
def test_resnet_parameter_counts_match_the_paper(name):
    n = count_parameters(create_model(name, (3, 32, 32), 10)) / 1e6
    assert abs(n - PAPER_PARAMS[name]) / PAPER_PARAMS[name] < 0.03, n
    plain = name.replace("resnet", "plain")
    if plain != "plain1202":  # option A shortcuts add no parameters
        assert count_parameters(create_model(plain, (3, 32, 32), 10)) == round(n * 1e6)


def test_option_a_shortcut_pads_channels_and_subsamples():
    from landmarks.models.resnet_cifar import Block

    block = Block(16, 32, 2, residual=True)
    x = torch.randn(2, 16, 8, 8)
    s = block.shortcut(x)
    assert s.shape == (2, 32, 4, 4)
    assert torch.equal(s[:, 8:24], x[:, :, ::2, ::2]) and s[:, :8].abs().sum() == 0 and s[:, 24:].abs().sum() == 0


class _MixedLayouts(TorchDispatchMode):
    """Records every op that receives 4-d tensors in both NCHW and channels_last layouts."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        dense = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor) and a.dim() == 4
                 and a.size(1) > 1 and a.size(-1) > 1]
        layouts = {"nchw" if a.is_contiguous() else "nhwc" for a in dense
                   if a.is_contiguous() or a.is_contiguous(memory_format=torch.channels_last)}
        if len(layouts) > 1:
            self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def _grads(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x).float(), y).backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("name", ["resnet20", "plain20"])
@pytest.mark.parametrize("bf16", [False, True])
def test_a_channels_last_resnet_step_never_mixes_layouts(name, bf16):
    # mixed layouts in an add or a ReLU backward are many times slower on a CPU (oneDNN's kernels
    # serve fp32 and bf16 here)
    torch.manual_seed(0)
    model = create_model(name, (3, 32, 32), 10).to(memory_format=torch.channels_last)
    x, y = torch.randn(8, 3, 32, 32).to(memory_format=torch.channels_last), torch.randint(0, 10, (8,))
    with _MixedLayouts() as seen, torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        _grads(model, x, y)
    assert seen.ops == []


@pytest.mark.parametrize("name", ["resnet20", "plain20"])
def test_channels_last_changes_no_resnet_gradient(name):
    # float64, so that the two layouts' different summation orders cannot flip a ReLU
    torch.manual_seed(0)
    model = create_model(name, (3, 32, 32), 10).double()
    x, y = torch.randn(8, 3, 32, 32, dtype=torch.float64), torch.randint(0, 10, (8,))
    reference = _grads(model, x, y)
    model.to(memory_format=torch.channels_last)
    for grad, ref in zip(_grads(model, x.to(memory_format=torch.channels_last), y), reference):
        torch.testing.assert_close(grad, ref, rtol=1e-9, atol=1e-12)


def test_a_compiled_resnet_has_no_graph_break():
    # the layout-keeping gradient is an autograd.Function, which torch.compile must trace through
    import torch._dynamo

    explained = torch._dynamo.explain(create_model("resnet20", (3, 32, 32), 10))(torch.randn(2, 3, 32, 32))
    assert explained.graph_break_count == 0 and explained.graph_count == 1


@pytest.mark.slow
def test_few_steps_on_generated_cifar_binary(tmp_path, monkeypatch, train):
    members, _ = cifar_archive(1, n=40)
    xz = tar_bytes([(tarfile.TarInfo(k), v) for k, v in members.items()], compress=lzma.compress)
    name, _ = register_generated_cifar(members)
    real = load_catalog()["he2016-resnet-cifar10"]  # the real He et al. 2016 entry, pointed at the generated data
    short = real.profiles["paper"].model_copy(update={
        "reduced_budget": True, "recipe": {"max_steps": 4, "epochs": 2, "batch_size": 16,
                                           "schedule": {"kind": "multistep", "unit": "step", "milestones": [2]}}})
    lm = real.model_copy(update={"dataset": name, "profiles": {**real.profiles, "quick": short}})
    lm._path = real.path
    recipe = resolve_recipe(lm, lm.claim("ResNet-20"), "quick")
    assert recipe.augment == ("crop", "flip") and recipe.drop_last and recipe.max_steps == 4
    with Server() as server:
        server.routes[f"/m/{name}/cifar-10-binary.tar.xz"] = Route(xz)
        monkeypatch.setenv("LANDMARKS_DATA_MIRROR", f"{server.url}/m")
        doc = train(lm, "quick", tmp_path / "out", only_seeds=(0,), only_claims=("ResNet-20",))
    (run,) = doc["runs"]
    assert run["info.steps"] == 4 and run["reduced_budget"] and doc["subset"]
    assert 0 <= run["value"] <= 100 and run["info.parameters"] == 269_722
