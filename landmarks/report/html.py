"""The report as one static HTML page, `reports/<profile>/index.html`, from a jinja2 template.

It shows what the markdown shows (one table per landmark, the figure, the notes), with verdicts
colour-coded and the provenance of every table (machine, commit, versions, data, runtime). The
page needs nothing from the network: styles are inline and figures are the PNGs beside it.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from landmarks.files import write_atomic
from landmarks.report.verdicts import (BETTER, CITED, HOLDS, INCONCLUSIVE, MODIFIED, NOT_REPRODUCED, REDUCED,
                                       REPRODUCED, VIOLATED)

NUMERIC = ("params", "paper", "reproduced mean ± std (n)", "95% interval", "difference (reproduced − paper)",
           "tolerance", "p")
CSS = {REPRODUCED: "v-reproduced", BETTER: "v-better", NOT_REPRODUCED: "v-not", INCONCLUSIVE: "v-inconclusive",
       REDUCED: "v-budget", MODIFIED: "v-budget", HOLDS: "v-check-ok", VIOLATED: "v-check-bad", CITED: "v-cited"}


def verdict_css(verdict: str) -> str:
    return CSS.get(verdict, "")


def write_html(out: Path, profile: str, explained: str, sections: list[dict], missing: list[str]) -> Path:
    """`sections`: one dict per landmark (id, title, label, citation, rows, columns, notes, figure,
    machine, runtime, commit, dirty, torch, python, data_hashes, runs, verdicts)."""
    env = Environment(loader=PackageLoader("landmarks.report", "templates"), autoescape=select_autoescape(["j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    for s in sections:
        for row in s["rows"]:
            row["css"] = verdict_css(row.get("verdict_raw", ""))
    html = env.get_template("index.html.j2").render(profile=profile, explained=explained, sections=sections,
                                                    missing=missing, numeric=NUMERIC)
    write_atomic(out, html)
    return out
