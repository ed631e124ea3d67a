"""`precision: auto`: bf16 where the device multiplies it natively and faster than fp32, fp32
elsewhere, recorded with the run."""

import logging
import math

import pytest
import torch

from landmarks.train import precision
from landmarks.train.precision import BF16_MIN_GAIN, cpu_bf16_gain, cpu_bf16_unit, cpu_has_bf16, resolve_precision


def test_explicit_precisions_pass_through():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"


def test_auto_follows_the_cpu_and_an_older_isa_means_fp32(monkeypatch):
    cpu = torch.device("cpu")
    native = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert resolve_precision("auto", cpu) == ("bf16" if native and cpu_bf16_gain() >= BF16_MIN_GAIN else "fp32")
    amx = torch.cpu._is_amx_tile_supported()
    assert cpu_bf16_unit() == ("AMX" if amx else "AVX512-BF16" if native else "none")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")  # AMX held back, AVX512-BF16 allowed
    assert cpu_bf16_unit() == ("AVX512-BF16" if native else "none")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # how an older CPU is simulated
    assert not cpu_has_bf16() and resolve_precision("auto", cpu) == "fp32" and cpu_bf16_unit() == "none"


@pytest.mark.parametrize("gain, picked", [(0.5, "fp32"), (1.1, "fp32"), (2.4, "bf16")])
def test_auto_on_a_cpu_with_a_bf16_unit_takes_bf16_only_where_it_is_faster(monkeypatch, gain, picked):
    """A Xeon reporting AVX512-BF16 measured 0.5x (bf16 slower); an AMD EPYC 2.4x."""
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(precision, "_measured_gain", lambda isa_limit: gain)
    assert resolve_precision("auto", torch.device("cpu")) == picked


@pytest.mark.skipif(not cpu_has_bf16(), reason="needs a CPU with AVX512-BF16 or AMX")
def test_the_gain_is_measured_once_per_process_and_isa_limit(monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    gain = cpu_bf16_gain()
    assert math.isfinite(gain) and 0.05 < gain < 20 and cpu_bf16_gain() == gain  # cached: the same number
    threads = torch.get_num_threads()
    precision._measured_gain.__wrapped__("", 128, 1)
    assert torch.get_num_threads() == threads  # the one-thread timing gives the threads back


def test_without_a_bf16_unit_nothing_is_timed(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setattr(precision, "_measured_gain", lambda isa_limit: pytest.fail("timed without a bf16 unit"))
    assert cpu_bf16_gain() == 0.0 and resolve_precision("auto", torch.device("cpu")) == "fp32"


def _digits_at_auto(catalog_dir, claim: str, epochs: int):
    """The digits landmark with one claim and one seed, its recipe at `precision: auto`."""
    import yaml

    from landmarks.catalog import load_catalog

    path = catalog_dir / "digits-linear-mlp-cnn.yaml"
    data = yaml.safe_load(path.read_text())
    data["recipe"].update(epochs=epochs, precision="auto")
    data["profiles"]["quick"] = {"seeds": [0], "claims": [claim]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_catalog(catalog_dir)["digits-linear-mlp-cnn"]


def test_a_run_records_the_precision_it_trained_in(catalog_dir, digits_dir, train, tmp_path, monkeypatch,
                                                   mlflow_runs):
    from landmarks.tracking import Tracker

    lm = _digits_at_auto(catalog_dir, "small cnn", epochs=1)
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
def test_auto_trains_under_bf16_autocast_on_such_a_cpu(digits, monkeypatch):
    from landmarks.models import create_model
    from landmarks.train.recipe import Recipe
    from landmarks.train.trainer import Trainer

    monkeypatch.setattr(precision, "_measured_gain", lambda isa_limit: 2.0)  # one where bf16 pays
    data = digits(0.0, "standard")
    trainer = Trainer.on_device(create_model("mlp", data.in_shape, 10), data, Recipe(precision="auto"), torch.Generator())
    assert trainer.bf16


def test_a_resumed_run_keeps_the_precision_it_began_in(catalog_dir, digits_dir, train, tmp_path, monkeypatch,
                                                      caplog):
    """Begun where "auto" meant bf16 and resumed where it means fp32 (another machine), the run
    goes on in bf16 and says so: one run, one arithmetic."""
    import landmarks.runner.landmark as landmark_module
    from landmarks.train.signals import Interrupted, StopFlag

    lm = _digits_at_auto(catalog_dir, "mlp 64x100", epochs=2)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)

    class SignalledAtOnce(StopFlag):  # as if SIGTERM arrived before the first step ended
        def __enter__(self):
            super().__enter__()
            self.signum = 15
            return self

    monkeypatch.setattr(precision, "_measured_gain", lambda isa_limit: 2.0)
    monkeypatch.setattr(landmark_module, "StopFlag", SignalledAtOnce)
    with pytest.raises(Interrupted):
        train(lm, "quick", tmp_path / "out", data_dir=digits_dir)
    monkeypatch.setattr(precision, "_measured_gain", lambda isa_limit: 0.5)  # here "auto" is fp32
    monkeypatch.setattr(landmark_module, "StopFlag", StopFlag)
    with caplog.at_level(logging.INFO, logger="landmarks"):
        doc = train(lm, "quick", tmp_path / "out", data_dir=digits_dir)
    (run,) = doc["runs"]
    assert "resuming from step 1" in caplog.text and run["info.precision"] == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
