"""What a study's ``results.json`` must hold: checked by the tests on the committed results and on
fresh quick runs. Returns problems as 'path: what is wrong' lines (empty when valid)."""
from __future__ import annotations

from pathlib import Path

PROVENANCE = {"command": str, "git_commit": (str, type(None)), "versions": dict, "seeds": list, "machine": dict,
              "date": str, "wall_seconds": (int, float), "seconds_by_framework": dict, "quick": bool}
RESULTS = {
    "fashion-mnist": {"models": dict, "seeds": list, "rows": dict, "figures": list, "notes": list, "decay_stop": dict},
    "breast-cancer": {"grid": dict, "native_keras": dict, "grid_batch_norm": dict, "native_keras_batch_norm": dict,
                      "majority_class": dict, "widths": list, "etas": list, "epochs": int, "figures": list},
    "digits": {"document": dict, "replay": dict, "matches": dict, "single_run_by_summation_order": dict, "aligned": dict,
               "sklearn": dict},
    "gates": {"document": dict, "replay": dict, "training": dict, "runs": dict, "figures": list},
    "even-odd": {"document": dict, "replay": dict, "replay_matches_document": dict, "corrected_network": dict},
    "breast-cancer-replicas": {"grid": dict, "widths": list, "etas": list, "epochs": int, "replicas": int,
                               "frameworks": list, "figures": list, "notes": list},
}


def _keys(data: dict, spec: dict, path: str) -> list[str]:
    problems = []
    for key, kind in spec.items():
        if key not in data:
            problems.append(f"{path}.{key}: missing")
        elif not isinstance(data[key], kind):
            problems.append(f"{path}.{key}: {type(data[key]).__name__}, expected {kind}")
    return problems


def validate(data: dict, folder: Path | None = None) -> list[str]:
    problems = _keys(data, {"provenance": dict, "study": str, "title": str, "results": dict}, "")
    if problems:
        return problems
    problems += _keys(data["provenance"], PROVENANCE, "provenance")
    study = data["study"]
    if study not in RESULTS:
        return problems + [f"study: unknown {study!r}"]
    problems += _keys(data["results"], RESULTS[study], "results")
    for figure in data["results"].get("figures", []):
        if folder is not None and not (folder / figure).is_file():
            problems.append(f"results.figures: {figure} is not in {folder}")
    return problems
