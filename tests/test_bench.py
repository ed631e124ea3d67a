"""`landmarks bench` runs both paths in one run and saves the figures with the machine's name.
(Speed goals are checked by reading the benchmark output, not here.)"""

import pandas as pd
import pytest

from landmarks.bench.step import ms_per_step
from landmarks.cli import main


def test_bench_step_prints_and_saves_both_paths(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "step", "--device", "cpu", "--models", "lenet5", "--steps", "3", "--warmup", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "eager fp32 ms/step" in printed and "fast ms/step" in printed
    (csv,) = out.glob("step-cpu-*.csv")
    table = pd.read_csv(csv)
    assert list(table.model) == ["lenet5"] and (table["eager fp32 ms/step"] > 0).all() and (table["fast ms/step"] > 0).all()
    assert table.machine.iloc[0].startswith("CPU")
    assert "torch" in next(out.glob("step-cpu-*.md")).read_text()


def test_resnet_step_with_augmentation_runs_on_both_paths():
    assert ms_per_step("resnet20", False, __import__("torch").device("cpu"), steps=1, warmup=1) > 0
    assert ms_per_step("resnet20", True, __import__("torch").device("cpu"), steps=1, warmup=1) > 0


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
