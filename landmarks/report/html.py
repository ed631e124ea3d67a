"""The report as one static HTML page, `reports/<profile>/index.html`, from a jinja2 template.

It shows what the markdown shows (one table per landmark, the figure, the notes), with each
verdict coloured by its result, whatever the recipe's fidelity (a `modified recipe; below the
band` row of an error is the colour of a result better than the paper's), and the provenance of
every table (machine, the code's commit, versions, data; times are in run-info.csv beside it,
which changes at every run). The page needs nothing from the network:
styles are inline and figures are the PNGs beside it.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from landmarks.files import write_atomic
from landmarks.judging.verdicts import AGREES, BETTER_SIDE, CITED, HOLDS, OPEN, VIOLATED, WORSE_SIDE

NUMERIC = ("params", "paper", "reproduced mean ± std (n)", "95% interval", "difference (reproduced − paper)",
           "tolerance", "seeds needed", "p")
CSS = {AGREES: "v-reproduced", BETTER_SIDE: "v-better", WORSE_SIDE: "v-not", OPEN: "v-inconclusive",
       HOLDS: "v-check-ok", VIOLATED: "v-check-bad", CITED: "v-cited"}


def verdict_css(outcome: str, verdict: str) -> str:
    """The class of a verdict cell: from the row's result (its outcome), or a check's or a cited
    row's own; none for a row without a claim."""
    return CSS.get(outcome) or CSS.get(verdict, "")


def write_html(out: Path, profile: str, explained: str, sections: list[dict], missing: list[str]) -> Path:
    """`sections`: one dict per landmark (id, title, label, citation, rows, columns, notes, figure,
    machine, commit, dirty, torch, python, data_hashes, runs, verdicts)."""
    env = Environment(loader=PackageLoader("landmarks.report", "templates"), autoescape=select_autoescape(["j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    for s in sections:
        for row in s["rows"]:
            row["css"] = verdict_css(row.get("outcome", ""), row.get("verdict_raw", ""))
    html = env.get_template("index.html.j2").render(profile=profile, explained=explained, sections=sections,
                                                    missing=missing, numeric=NUMERIC)
    write_atomic(out, html)
    return out
