"""`precision: auto`: bf16 where the device multiplies it natively, fp32 elsewhere, recorded with the run."""

import pytest
import torch

from landmarks.train.precision import cpu_bf16_unit, cpu_has_bf16, resolve_precision


def test_explicit_precisions_pass_through():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"


def test_auto_follows_the_cpu_and_an_older_isa_means_fp32(monkeypatch):
    cpu = torch.device("cpu")
    native = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert resolve_precision("auto", cpu) == ("bf16" if native else "fp32")
    amx = torch.cpu._is_amx_tile_supported()
    assert cpu_bf16_unit() == ("AMX" if amx else "AVX512-BF16" if native else "none")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")  # AMX held back, AVX512-BF16 allowed
    assert cpu_bf16_unit() == ("AVX512-BF16" if native else "none")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # how an older CPU is simulated
    assert not cpu_has_bf16() and resolve_precision("auto", cpu) == "fp32" and cpu_bf16_unit() == "none"


def test_a_run_records_the_precision_it_trained_in(catalog_dir, digits_dir, train, tmp_path, monkeypatch,
                                                   mlflow_runs):
    import yaml

    from landmarks.catalog import load_catalog
    from landmarks.tracking import Tracker

    path = catalog_dir / "digits-linear-mlp-cnn.yaml"
    data = yaml.safe_load(path.read_text())
    data["recipe"].update(epochs=1, precision="auto")
    data["profiles"]["quick"] = {"seeds": [0], "claims": ["small cnn"]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    lm = load_catalog(catalog_dir)["digits-linear-mlp-cnn"]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("DVC_EXP_NAME", "bushy-reed")  # what `dvc exp run` sets
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    doc = train(lm, "quick", tmp_path / "out", Tracker(uri, project=tmp_path), data_dir=digits_dir)
    assert doc["runs"][0]["info.precision"] == "fp32"
    assert doc["recipes"][doc["runs"][0]["claim"]]["precision"] == "auto"
    _, _, child = mlflow_runs(uri, "digits-linear-mlp-cnn")
    assert child.data.tags["resolved.precision"] == "fp32"
    assert child.data.tags["dvc.exp_name"] == "bushy-reed"


@pytest.mark.skipif(not cpu_has_bf16(), reason="needs a CPU with AVX512-BF16 or AMX")
def test_auto_trains_under_bf16_autocast_on_such_a_cpu(digits):
    from landmarks.models import create_model
    from landmarks.train.recipe import Recipe
    from landmarks.train.trainer import Trainer

    data = digits(0.0, "standard")
    trainer = Trainer.on_device(create_model("mlp", data.in_shape, 10), data, Recipe(precision="auto"), torch.Generator())
    assert trainer.bf16
