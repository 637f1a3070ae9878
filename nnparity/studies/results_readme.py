"""``results/README.md``: every study's tables and figures, regenerated from the JSON the studies wrote."""
from __future__ import annotations

import json
from pathlib import Path

from nnparity import atomic
from nnparity.studies.catalog import STUDIES

HEADER = """# Reproductions

Written by `nnparity reproduce STUDY` (this file by every run of it, from the JSON beside each study).
Each `STUDY/results.json` holds the numbers and their provenance: command, git commit, package
versions, seeds, machine, date and wall time per framework. Each section gives the study's wall
time, then each framework's own training seconds: frameworks train concurrently (one process each),
so these can add up to more than the wall time. Rerun a study with the command in its section.
"""


def render(results_dir: Path) -> str:
    parts = [HEADER]
    for name, module in STUDIES.items():
        path = results_dir / name / "results.json"
        if not path.is_file():
            parts.append(f"## {module.TITLE}\n\nNot run yet: `nnparity reproduce {name}`.\n")
            continue
        data = json.loads(path.read_text())
        p = data["provenance"]
        timing = ", ".join(f"{k} {v:.0f} s" for k, v in p.get("seconds_by_framework", {}).items())
        parts.append(f"## {module.TITLE}\n\n`{p['command']}` ({'quick' if p.get('quick') else 'full'} run, {p.get('date', '?')}, "
                     f"{p['wall_seconds']:.0f} s{'; ' + timing if timing else ''}; commit {str(p.get('git_commit'))[:10]}); "
                     f"rerun this study alone with `nnparity reproduce {name}`.\n\n"
                     + module.markdown(data["results"]))
    return "\n".join(parts)


def write(results_dir: Path) -> Path:
    path = results_dir / "README.md"
    text = render(results_dir)
    with atomic.replacing(path) as tmp:
        tmp.write_text(text)
    return path
