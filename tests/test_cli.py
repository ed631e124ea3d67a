"""Bad command lines end in a clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket

import pytest

from landmarks.cli import main


def test_a_misspelt_command_gets_the_closest_one(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--catalog", "benchmarks", "trian", "xor-backprop"])
    assert exc.value.code == 2
    assert "unknown command 'trian'; did you mean 'train'?" in capsys.readouterr().err


@pytest.mark.parametrize("port, words", [("99999", "between 1 and 65535"), ("http", "expected a port number")])
def test_ui_refuses_a_port_that_cannot_be(port, words, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ui", "--port", port])
    assert exc.value.code == 2 and words in capsys.readouterr().err


def test_ui_says_when_its_port_is_busy(caplog):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["ui", "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is in use" in caplog.text and f"--port {port + 1}" in caplog.text


@pytest.mark.parametrize("argv, words", [
    (["train", "xor-backprop", "--seeds", "a"], "expected comma-separated whole numbers"),
    (["list", "--profile", "nosuch"], "unknown profile 'nosuch'"),
    (["bench", "step", "--models", "nosuch", "--device", "cpu"], "no model nosuch"),
])
def test_bad_arguments_exit_non_zero_with_the_reason(argv, words, capsys, caplog):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert words in capsys.readouterr().err + caplog.text


def test_use_refuses_a_profile_no_landmark_has(tmp_path, capsys, catalog_dir):
    for lm in catalog_dir.glob("*.yaml"):  # a catalog without its ImageNet landmarks
        if "imagenet:" in lm.read_text():
            lm.unlink()
    params = tmp_path / "params.yaml"
    params.write_text("profile: quick\n")
    assert main(["--catalog", str(catalog_dir), "--params", str(params), "use", "imagenet"]) == 2
    err = capsys.readouterr().err
    assert "no landmark in the catalog has a 'imagenet' profile yet" in err and "quick, classic" in err
    assert params.read_text() == "profile: quick\n"  # untouched


def test_use_imagenet_writes_its_landmarks_on_the_imagenet_dataset(tmp_path, capsys):
    import yaml

    params = tmp_path / "params.yaml"
    params.write_text("profile: quick\n")
    assert main(["--params", str(params), "use", "imagenet"]) == 0
    written = yaml.safe_load(params.read_text())
    assert written["profile"] == "imagenet" and list(written["datasets"]) == ["imagenet"]
    assert sorted(written["landmarks"]) == ["he2016-resnet-imagenet", "krizhevsky2012-imagenet",
                                            "simonyan2015-vgg16", "torchvision-weights"]
    assert all(item == {"data": "imagenet"} for item in written["landmarks"].values())


@pytest.mark.server
def test_the_installed_ui_command_serves_mlflow_with_the_venv_off_path(tmp_path):
    """`.venv/bin/landmarks ui` as the README gives it, with the venv not activated (its bin folder
    off PATH): MLflow's UI answers on 127.0.0.1."""
    import os
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    from waiting import wait_for

    bin_dir = Path(sys.executable).parent
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p).resolve() != bin_dir.resolve())
    env = {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.Popen([str(bin_dir / "landmarks"), "ui", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                return r.status == 200 and "mlflow" in r.read().decode(errors="replace").lower()
        except OSError:
            return False

    try:
        wait_for(answers, proc, "the MLflow UI to answer", timeout=180)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert f"http://127.0.0.1:{port}/#/experiments?workflowType=machine_learning" in proc.stdout.read()


def test_a_reader_that_stops_early_gets_no_traceback(root):
    """`landmarks compare A B | head -2`: the pipe closes under the command; it ends quietly, exit 0."""
    import subprocess
    import sys
    from pathlib import Path

    quick = str(root / "reports" / "quick")
    cmd = f"'{Path(sys.executable).parent / 'landmarks'}' compare {quick} {quick} | head -c 10"
    out = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr
    assert out.returncode == 0 and out.stdout == "A: " + quick[:7]
