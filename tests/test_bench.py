"""`landmarks bench` runs both paths in one run and saves the figures with the machine's name.
(Speed goals are checked by reading the benchmark output, not here.)"""

import numpy as np
import pandas as pd
import torch
import pytest

from landmarks.bench.step import step_timer
from landmarks.cli import main
from landmarks.provenance import cpu_name
from landmarks.train.precision import cpu_bf16_unit


def test_bench_step_prints_and_saves_both_paths(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "step", "--device", "cpu", "--models", "lenet5", "--steps", "3", "--warmup", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "eager fp32 ms/step" in printed and "fast ms/step" in printed
    assert "Matmul peak of this machine" in printed and "GFLOP/s fp32" in printed
    (csv,) = out.glob("step-cpu-*.csv")
    table = pd.read_csv(csv)
    assert list(table.model) == ["lenet5"] and (table["eager fp32 ms/step"] > 0).all() and (table["fast ms/step"] > 0).all()
    row = table.iloc[0]
    # GFLOP/step is rounded to 2 decimals (0.14: up to 4%), GFLOP/s to 1 (0.05 of a slow step's few)
    expected = row["GFLOP/step"] / row["eager fp32 ms/step"] * 1e3
    assert abs(row["eager GFLOP/s"] - expected) <= 0.05 * expected + 0.05
    assert row["speed-up with compile"] == pytest.approx(row["eager fp32 ms/step"] / row["fast + compile ms/step"], rel=0.05)
    # the ratio of the medians lies between the lowest and the highest of the rounds' ratios
    for ratio, spread in (("speed-up", "speed-up, rounds"), ("speed-up with compile", "with compile, rounds")):
        low, high = map(float, row[spread].split("-"))
        assert low - 0.01 <= row[ratio] <= high + 0.01 and low <= high
    assert table.machine.iloc[0].startswith("CPU")
    assert f"CPU: {cpu_name()}; bf16 in hardware: {cpu_bf16_unit()}." in printed
    assert "torch" in next(out.glob("step-cpu-*.md")).read_text()


def test_resnet_step_with_augmentation_runs_on_both_paths():
    assert step_timer("resnet20", "eager", torch.device("cpu"), warmup=1)(1) > 0
    assert step_timer("resnet20", "fast", torch.device("cpu"), warmup=1)(1) > 0


@pytest.mark.shared_data
def test_bench_epoch_engine_and_tutorial_loop(tmp_path, shared_datasets, monkeypatch, capsys):
    monkeypatch.setenv("LANDMARKS_DATA_MIRROR", str(shared_datasets))
    params = tmp_path / "params.yaml"
    params.write_text(f"data: {{dir: {tmp_path / 'data'}}}\n")
    assert main(["--params", str(params), "bench", "epoch", "--device", "cpu", "--models", "mlp-300",
                 "--images", "3000", "--workers", "0", "--out", str(tmp_path / "bench")]) == 0
    table = pd.read_csv(next((tmp_path / "bench").glob("epoch-cpu-*.csv")))
    assert table["engine s/epoch"].iloc[0] > 0 and table["tutorial loop s/epoch"].iloc[0] > 0
    assert "speed-up" in capsys.readouterr().out


def test_step_flops_count_forward_and_backward():
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from landmarks.bench.step import step_flops
    from landmarks.models import create_model

    model = create_model("cnn4", (3, 32, 32), 10)
    with FlopCounterMode(display=False) as fwd:
        F.cross_entropy(model(torch.randn(128, 3, 32, 32)), torch.zeros(128, dtype=torch.long))
    # backward costs about twice the forward (less for the first layer, whose input needs no gradient)
    assert 2.5 < step_flops("cnn4") / fwd.get_total_flops() <= 3.0



@pytest.mark.slow
def test_bench_procs_times_one_and_two_processes_in_one_run(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "procs", "--device", "cpu", "--images", "2560", "--out", str(out)]) == 0
    table = pd.read_csv(next(out.glob("procs-cpu-*.csv")))
    assert list(table.processes) == [1, 2] and (table["s/epoch"] > 0).all()
    assert table["speed-up vs first"].iloc[0] == 1.0
    assert "processes" in capsys.readouterr().out


def test_bench_loader_prints_and_saves_both_pipelines(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "loader", "--device", "cpu", "--images", "10", "--batch-size", "4", "--workers", "1",
                 "--repeats", "1", "--image-size", "64x48", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "torchvision reference (PIL)" in printed and "landmarks (decode: cpu)" in printed
    assert "images/s" in printed and "vs torchvision" in printed
    table = pd.read_csv(next(out.glob("loader-cpu-*.csv")))
    assert sorted(zip(table["transform"], table.pipeline)) == [
        ("eval", "landmarks (decode: cpu)"), ("eval", "torchvision reference (PIL)"),
        ("train", "landmarks (decode: cpu)"), ("train", "torchvision reference (PIL)")]
    # both pipelines yield every image once, at the same shape, whichever transform
    assert (table["images/pass"] == 10).all() and (table.output == "3x224x224").all()
    assert (table["images/s"] > 0).all() and (table[table.pipeline.str.startswith("torchvision")]["vs torchvision"] == 1).all()
    assert "torchvision 0." in next(out.glob("loader-cpu-*.md")).read_text()


def test_bench_loader_reads_a_class_folder_tree(tmp_path, capsys):
    from landmarks.bench.loader import make_tree, select

    make_tree(tmp_path / "mine", 6, (40, 30), classes=3)
    # <root>/train/<class>/ or the class folders directly: the same images
    assert select(tmp_path / "mine", 0).split == select(tmp_path / "mine" / "train", 0).split
    assert main(["bench", "loader", "--device", "cpu", "--root", str(tmp_path / "mine" / "train"), "--batch-size", "4",
                 "--workers", "0", "--repeats", "1", "--out", str(tmp_path / "bench")]) == 0
    printed = capsys.readouterr().out
    assert "vs torchvision" in printed and "saved" in printed and list((tmp_path / "bench").glob("loader-*.md"))
    (tmp_path / "empty").mkdir()
    assert main(["bench", "loader", "--device", "cpu", "--root", str(tmp_path / "empty"), "--workers", "0"]) == 3


def test_loader_pipelines_yield_each_image_once_and_a_dropped_batch_is_refused(tmp_path):
    from landmarks.bench import loader

    loader.make_tree(tmp_path, 11, (48, 40), classes=3)
    data = loader.select(tmp_path, 0)
    assert len(data.indices) == 11 and data.labels == {0: 4, 1: 4, 2: 3}
    cpu = torch.device("cpu")
    for train in (True, False):
        lines = loader.pipelines(data, train, batch=4, workers=0, device=cpu)
        passes = [loader.checked(loader.one_pass(p, 1, cpu), p, data) for p in lines]
        assert [p.images for p in passes] == [11, 11] and passes[0].shapes == passes[1].shapes == {(3, 224, 224)}
        assert passes[0].labels == passes[1].labels == data.labels
    project = lines[1]
    short = loader.Pipeline(project.name, lambda epoch: list(project.loader(epoch))[:-1], project.finish)
    with pytest.raises(RuntimeError, match="yielded 8 images"):
        loader.checked(loader.one_pass(short, 1, cpu), short, data)
    repeated = loader.Pipeline(project.name, lambda epoch: [*project.loader(epoch), next(iter(project.loader(epoch)))],
                               project.finish)
    with pytest.raises(RuntimeError, match="yielded 15 images"):
        loader.checked(loader.one_pass(repeated, 1, cpu), repeated, data)


@pytest.mark.slow
def test_bench_runs_times_layouts_side_by_side_at_the_profiles_recipe(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "runs", "--models", "mlp300-1998-eager", "--procs", "1,2", "--steps", "5",
                 "--out", str(out)]) == 0
    table = pd.read_csv(next(out.glob("runs-cpu-*.csv")))
    assert list(table.processes) == [1, 2] and (table["ms/step"] > 0).all()
    # a LeCun 1998 run at the paper recipe: 20 passes of 60,000 one-sample steps
    assert (table["steps/run"] == 1_200_000).all()
    want = table.processes * 3600 / (table["steps/run"] * table["ms/step"] / 1000)
    # the table's ms/step is rounded for print: the runs per hour agree with it to that rounding
    assert np.allclose(table["runs/hour"], want, rtol=0.01)
    assert table["vs first layout"].iloc[0] == 1.0
    assert main(["bench", "runs", "--models", "no-such-case", "--out", str(out)]) == 2
    assert "choose from" in capsys.readouterr().err


@pytest.mark.parametrize("model,args,criterion", [("mlp-1998", {"hidden": [20]}, "mse_pm1"),
                                                  ("lenet5-1998", {}, "rbf_map")])
def test_stacked_seeds_step_each_seed_as_its_own_sdlm_update(model, args, criterion):
    """The seeds bench's stacked path is K one-sample SDLM updates, each seed with its own weights,
    sample and curvature: the same as the optimizer stepping each seed alone."""
    import copy

    from landmarks.bench.seeds import StackedSDLMStep
    from landmarks.models import create_model
    from landmarks.train.losses import compute_loss
    from landmarks.train.sdlm import SDLM

    def crit(out, y):
        return compute_loss(out, y, criterion)

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 1, 28, 28, generator=g)  # (steps, seeds, sample)
    y = torch.randint(0, 10, (2, 3), generator=g)
    alone, opts = [], []
    for seed in range(3):
        torch.manual_seed(seed)
        m = create_model(model, (1, 28, 28), 10, **args)
        opt = SDLM(m.parameters(), lr=0.0005, mu=0.02)
        opt.estimate_curvature(m, x[0], y[0], crit)  # each seed its own curvature (its own weights)
        alone.append(m)
        opts.append(opt)
    rates = [{n: o.state[p]["rate"] for n, p in m.named_parameters()} for m, o in zip(alone, opts)]
    stacked = StackedSDLMStep([copy.deepcopy(m) for m in alone], rates, criterion, lr=0.0005, compile=False)
    start = {n: p.detach().clone() for n, p in stacked.params.items()}
    for step in range(2):
        stacked(x[step], y[step])
        for s, (m, opt) in enumerate(zip(alone, opts)):
            opt.zero_grad()
            crit(m(x[step, s:s + 1]), y[step, s:s + 1]).backward()
            opt.step()
    for s, m in enumerate(alone):
        for n, p in m.named_parameters():
            torch.testing.assert_close(stacked.params[n][s], p.detach(), rtol=1e-4, atol=1e-6)
    moved = {n: float((stacked.params[n] - start[n]).abs().max()) for n in start}
    assert all(v > 0 for v in moved.values()), moved  # every parameter stepped
    w = next(iter(stacked.params))
    assert not torch.equal(stacked.params[w][0], stacked.params[w][1])  # seeds keep their own weights


def test_bench_seeds_prints_and_saves_both_paths(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "seeds", "--device", "cpu", "--models", "mlp300-1998", "--stack", "2", "--steps", "3",
                 "--repeats", "1", "--out", str(out)]) == 0
    assert "separate ms (K steps)" in capsys.readouterr().out
    (row,) = pd.read_csv(next(out.glob("seeds-cpu-*.csv"))).to_dict("records")
    assert row["seeds"] == 2 and row["separate ms (K steps)"] > 0 and row["stacked ms (K steps)"] > 0
    assert row["runs/hour stacked"] == pytest.approx(2 * 3600 / (1_200_000 * row["stacked ms (K steps)"] / 1000), rel=0.01)
    assert float(row["max |diff| (1 step)"]) < 1e-4


@pytest.mark.parametrize("kind, option, value", [
    ("seeds", "--stack", "2,x"), ("runs", "--procs", "1,0"), ("procs", "--procs", "two"),
    ("step", "--steps", "0"), ("step", "--warmup", "-1"),
])
def test_bench_refuses_counts_that_are_not_whole_numbers(kind, option, value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", kind, "--device", "cpu", option, value, "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {value!r}" in err and "whole number" in err and "Traceback" not in err
    assert not tmp_path.exists() or not list(tmp_path.iterdir())  # nothing saved
