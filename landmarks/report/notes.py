"""The paragraphs under a landmark's table: tolerance rules, the cited results' notes, the
profile's fidelity, hardware, expected time and note, runs censored or that did not learn, the
landmark's own notes."""

from __future__ import annotations

import pandas as pd

from landmarks.catalog import Landmark
from landmarks.report.tables import runs_at_chance, tolerance_rules


def landmark_notes(lm: Landmark, profile: str, summary: pd.DataFrame, results: pd.DataFrame, reread: int = 0
                   ) -> list[str]:
    """`reread`: how many runs' epochs to the threshold were read again from history.csv."""
    notes = []
    rules = tolerance_rules(summary, lm)
    if rules:
        notes.append("Tolerance: " + "; ".join(rules) + ".")
    cited = [f"{ref.name} ({' '.join(ref.note.split())})" for ref in lm.references if ref.note.strip()]
    if cited:
        notes.append("Not re-run, the paper's comparisons as it reports them: " + "; ".join(cited) + ".")
    notes += _profile_notes(lm, profile)
    notes += human_normalised(lm, summary)
    notes += _censored(lm, summary, reread)
    stuck = runs_at_chance(results, lm.id)
    if stuck:
        notes.append(f"**Did not learn** (test error at chance level; counted in the means above): {', '.join(stuck)}.")
    if lm.notes:
        notes.append(lm.notes.strip())
    return notes


def _profile_notes(lm: Landmark, profile: str) -> list[str]:
    """What the profile needs and departs from: its hardware, expected time and note, and each
    minor departure from the paper's recipe with why it cannot move a number by its tolerance."""
    prof = lm.profiles.get(profile)
    if prof is None:
        return []
    notes = []
    needs = "; ".join(f"{what}: {' '.join(text.split())}" for what, text in
                      (("hardware", prof.hardware), ("expected time", prof.expected_time)) if text.strip())
    about = [part for part in (needs and needs + ".", " ".join(prof.note.split())) if part]
    if about:
        notes.append(f"Profile `{profile}`: " + " ".join(about))
    if prof.minor_departures:
        named = "; ".join(f"{' '.join(d.what.split())} ({' '.join(d.why.split())})" for d in prof.minor_departures)
        notes.append(f"Minor departures from the paper's recipe, none able to move a number by its tolerance: "
                     f"{named}.")
    return notes


def _censored(lm: Landmark, summary: pd.DataFrame, reread: int) -> list[str]:
    """Runs that never reached their threshold, per claim, and where the crossings were read."""
    notes = []
    if reread:
        notes.append(f"Epochs to the threshold read off each run's training-error curve in history.csv, "
                     f"interpolated between the epochs around the crossing; {reread} runs had stored another "
                     f"value (whole epochs, or one more than the epochs run for a run that never crossed).")
    rows = summary[(summary["landmark"] == lm.id) & (summary["censored"].fillna(0) > 0)]
    if not rows.empty:
        counts = ", ".join(f"{r['claim']} {int(r['censored'])} of {int(r['censored'] + r['n'])}"
                           for r in rows.to_dict("records"))
        notes.append(f"**Censored** (never reached the threshold in the epochs run; counted apart, not in the "
                     f"means, intervals and tests above): {counts}.")
    return notes


def human_normalised(lm: Landmark, summary: pd.DataFrame) -> list[str]:
    """Mnih et al. 2015's human-normalised score, 100 x (score - random) / (human - random), of
    each claim whose game has the paper's human and random rows ("human, Pong", "random, Pong"),
    for the runs' mean and for the paper's score."""
    cited = {ref.name: ref.values.get("score") for ref in lm.references}
    ran = set(summary.loc[summary["landmark"] == lm.id, "claim"])
    parts = []
    for claim in (c for c in lm.claims if c.name in ran):
        game = claim.name.rsplit(",", 1)[-1].strip()
        human, rand = cited.get(f"human, {game}"), cited.get(f"random, {game}")
        if human is None or rand is None or human == rand:
            continue
        rows = summary[(summary["landmark"] == lm.id) & (summary["claim"] == claim.name)]
        mean = rows["mean"].iloc[0] if len(rows) and pd.notna(rows["mean"].iloc[0]) else None

        def norm(x: float) -> str:
            return f"{100.0 * (x - rand) / (human - rand):.0f}%"

        runs = f"{norm(mean)} over the runs" if mean is not None else "no runs yet"
        paper = f", the paper's {norm(claim.paper)}" if claim.paper is not None else ""
        parts.append(f"{claim.name}: {runs}{paper}")
    if not parts:
        return []
    return ["Human-normalised score, 100 x (score - random) / (human - random), the paper's definition: "
            + "; ".join(parts) + "."]
