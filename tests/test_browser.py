"""The pages users read, opened in a real headless Chromium (Debian's `chromium`, driven by
Playwright): the HTML report from a file, and the parent run in a real MLflow UI on 127.0.0.1.
Skipped where no Chromium is installed (`apt-get install chromium`)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from mlflow import MlflowClient

from landmarks.catalog import load_catalog
from landmarks.cli.runs import experiments_url
from landmarks.report.build import build_report
from landmarks.report.html import CSS
from landmarks.tracking import Tracker
from landmarks.tracking.client import _clean_key as clean
from mlflowserver import free_port, start_server, stop_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.server,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian: apt-get install chromium)")]
LANDMARK = "xor-backprop"
CLAIM = "2-2-1 net, backpropagation"


def xor_catalog(catalog_dir):
    """The catalog with XOR at 10 seeds: its 100 are for the claim, not for what the pages show."""
    path = catalog_dir / f"{LANDMARK}.yaml"
    data = yaml.safe_load(path.read_text())
    data["profiles"]["quick"]["seeds"] = list(range(10))
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_catalog(catalog_dir)


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def test_the_html_report_shows_its_verdicts_offline(browser, catalog_dir, tmp_path, train):
    catalog = xor_catalog(catalog_dir)
    train(catalog[LANDMARK], "quick", tmp_path / "models" / "quick" / LANDMARK)
    build_report("quick", tmp_path / "models" / "quick", tmp_path / "reports", catalog)
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((tmp_path / "reports" / "index.html").as_uri())
    row = page.locator("tr", has=page.locator("td", has_text=CLAIM))
    verdict = row.locator("td.verdict")
    assert verdict.is_visible() and verdict.inner_text().strip()
    # coloured by its result, not left to the browser's default: the class of the row's outcome
    outcome = pd.read_csv(tmp_path / "reports" / "summary.csv").set_index("claim").loc[CLAIM, "outcome"]
    assert verdict.get_attribute("class") == f"verdict {CSS[outcome]}"
    assert verdict.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert page.locator("img").first.is_visible() or page.locator("img").count() == 0
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert requests and all(u.startswith("file://") for u in requests), requests  # nothing leaves the machine


def test_the_mlflow_ui_shows_the_paper_value_and_the_verdict(browser, catalog_dir, tmp_path, train, mlflow_runs):
    catalog = xor_catalog(catalog_dir)
    uri = f"sqlite:///{tmp_path / 'server.db'}"
    train(catalog[LANDMARK], "quick", tmp_path / "out", Tracker(uri, project=tmp_path))
    _, parent, _ = mlflow_runs(uri, LANDMARK)
    verdict = parent.data.tags[f"verdict/{clean(CLAIM)}"]
    assert parent.data.tags["verdict/perceptron best of all epochs"]  # a key MLflow would refuse, cleaned
    port = free_port()
    server = start_server(tmp_path, port)
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}")
        page.get_by_text(f"verdict/{clean(CLAIM)}").first.wait_for(timeout=60_000)
        assert verdict in page.inner_text("body")  # the tag's value, as the page shows it
        paper_key = next(k for k in parent.data.metrics if k.endswith("/paper"))
        assert page.get_by_text(paper_key).first.is_visible()
        page.screenshot(path=str(tmp_path / "mlflow.png"), full_page=True)
        # the link `landmarks ui` prints opens the model-training view (the experiments and their
        # runs), not MLflow 3's GenAI view of traces
        page = browser.new_page()
        page.goto(experiments_url(port))
        page.get_by_text(LANDMARK).first.wait_for(timeout=60_000)
        body = page.inner_text("body")
        assert "Model registry" in body and "Observability" not in body  # the model-training menu
        experiment = MlflowClient(uri).get_experiment(parent.info.experiment_id)
        assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    finally:
        stop_server(server)


def test_a_report_fits_a_projectors_1024_pixels(browser, root, tmp_path):
    """The classic report, whose LeCun and Fashion-MNIST tables are the widest, rebuilt from its
    committed results and opened 1024 pixels wide: no horizontal scroll, every verdict in view."""
    catalog = load_catalog(root / "benchmarks")
    out = tmp_path / "reports"
    build_report("classic", tmp_path / "no-models", out, catalog, root / "reports" / "classic" / "results.csv")
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.goto((out / "index.html").as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    right_edges = page.locator("td.verdict").evaluate_all("cells => cells.map(c => c.getBoundingClientRect().right)")
    assert right_edges and max(right_edges) <= 1024
    page.screenshot(path=str(tmp_path / "report-1024.png"), full_page=True)


def test_the_overview_links_every_profile_and_paper_and_fits_1024_pixels(browser, root, tmp_path):
    """reports/index.html from the committed profiles' summaries: each landmark's paper linked, each
    profile's verdicts linked to its page, a chart of intervals against the paper's band, offline."""
    from landmarks.report.overview import write_overview

    catalog = load_catalog(root / "benchmarks")
    for summary in (root / "reports").glob("*/summary.csv"):
        (tmp_path / summary.parent.name).mkdir()
        shutil.copy(summary, tmp_path / summary.parent.name / "summary.csv")
    page_path = write_overview(tmp_path, catalog)
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_path.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    hrefs = page.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert catalog["lecun1998-mnist"].url in hrefs and "classic/index.html#lecun1998-mnist" in hrefs
    assert page.locator("svg").count() >= 3
    assert all(u.startswith("file://") for u in requests), requests  # the paper links are links, not loads
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
