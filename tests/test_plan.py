"""`landmarks plan`: a profile's time on this machine from a few timed steps, cached per machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from landmarks.errors import ConfigError
from landmarks.plan.estimate import ClaimPlan, expected_seconds, parse_duration, run_steps, within_budget
from landmarks.train.recipe import LrSearch, Recipe

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"


@pytest.mark.parametrize("text, seconds", [("8h", 8 * 3600), ("90m", 5400), ("1h30m", 5400), ("45 min", 2700),
                                           ("1.5h", 5400), ("2d", 2 * 86400), ("30s", 30)])
def test_budgets_read_as_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "8", "8 parsecs", "8h and then some"])
def test_a_budget_that_is_not_a_duration_names_the_option_and_the_format(text):
    with pytest.raises(ConfigError, match=r"--budget .*expected a duration such as 8h"):
        parse_duration(text)


def test_a_profiles_stated_time_is_read_where_it_names_one():
    assert expected_seconds("about 9 hours per seed on one GPU") == 9 * 3600
    assert expected_seconds("a few minutes per model on one GPU") is None


def test_steps_of_a_run_follow_its_recipe():
    assert run_steps(Recipe(batch_size=64, epochs=20, val_fraction=0.0), 60_000) == (938 * 20, 0, 20)
    assert run_steps(Recipe(batch_size=64, epochs=20, val_fraction=0.0, drop_last=True), 60_000)[0] == 937 * 20
    # He et al.: 64k iterations on 45k of CIFAR's 50k (352 batches an epoch), 5k validated after each of 182 epochs
    steps, evaluated, epochs = run_steps(Recipe(batch_size=128, epochs=200, max_steps=64_000, val_fraction=0.1), 50_000)
    assert steps == 64_000 and evaluated == 5_000 * 182 and epochs == 182
    # a budget of 500 iterations in a recipe of 183 epochs: 2 epochs, so 2 evaluations, not 183
    assert run_steps(Recipe(batch_size=128, epochs=183, max_steps=500, val_fraction=0.1, drop_last=True), 50_000) == \
        (500, 2 * 5_000, 2)
    # an lr search adds a run of its epochs per rate, on its own split
    search = LrSearch(grid=(0.1, 0.01, 0.001), epochs=2, val_fraction=0.1)
    plain = run_steps(Recipe(batch_size=100, epochs=5, val_fraction=0.0), 10_000)[0]
    with_search = run_steps(Recipe(batch_size=100, epochs=5, val_fraction=0.0, lr_search=search), 10_000)[0]
    assert with_search - plain == 3 * 2 * 90


def test_what_fits_a_budget_is_counted_in_catalog_order():
    plans = [ClaimPlan("a", f"c{i}", "m", 5, 10, s, "timed") for i, s in enumerate((60.0, 600.0, 6.0))]
    assert within_budget(plans, 3600) == [True, True, True]
    assert within_budget(plans, 400) == [True, False, False]  # the third would fit alone, but comes after


def _plan(ws: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(BIN / "landmarks"), *extra], cwd=ws, env=env, capture_output=True, text=True,
                          timeout=300)


def test_plan_times_each_model_once_per_machine_and_use_prints_the_total(tmp_path, digits_workspace):
    ws = digits_workspace(tmp_path / "ws", epochs=30)
    cache = tmp_path / "cache"
    first = _plan(ws, cache, "plan", "--profile", "quick", "--budget", "1h")
    assert first.returncode == 0, first.stderr
    assert "timing mlp" in first.stderr
    row = next(line for line in first.stdout.splitlines() if "mlp 64x100" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    # one seed; 30 epochs of 38 batches of 32 (the 1,347 training images less the 10% held out: 1,212)
    assert cells[3] == "1" and cells[4] == f"{30 * 38:,}"
    assert cells[7] == "timed" and cells[-1] == "yes"
    assert "Total for profile quick" in first.stdout
    saved = json.loads((cache / "landmarks" / "step-times.json").read_text())
    (machine,) = saved
    assert "threads" in machine and "torch" in machine and len(saved[machine]) == 1

    again = _plan(ws, cache, "plan", "--profile", "quick")
    assert again.returncode == 0, again.stderr
    assert "timing" not in again.stderr  # read from the cache
    assert [c.strip() for c in next(ln for ln in again.stdout.splitlines() if "mlp 64x100" in ln).split("|")][6] == \
        [c.strip() for c in row.split("|")][6]

    tight = _plan(ws, cache, "plan", "--profile", "quick", "--budget", "0.001s")
    assert tight.returncode == 0 and "| no " in tight.stdout
    use = _plan(ws, cache, "use", "quick")
    assert use.returncode == 0, use.stderr
    assert "Time: planned on this machine:" in use.stdout

    # a profile whose stated time is far from the plan's is named beside it
    import yaml

    catalog = ws / "benchmarks" / f"{LANDMARK}.yaml"
    data = yaml.safe_load(catalog.read_text())
    data["profiles"]["quick"]["expected_time"] = "about 100 hours on a laptop"
    catalog.write_text(yaml.safe_dump(data, sort_keys=False))
    stated = _plan(ws, cache, "plan", "--profile", "quick")
    assert f"{LANDMARK}: planned" in stated.stdout and "while its profile says 'about 100 hours" in stated.stdout

    bad = _plan(ws, cache, "plan", "--budget", "soon")
    assert bad.returncode == 2 and "--budget 'soon'" in bad.stderr
