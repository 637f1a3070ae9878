"""``results/README.md``: every study's tables and figures, regenerated from the JSON the studies wrote."""
from __future__ import annotations

from pathlib import Path

from nnparity import atomic
from nnparity.studies.catalog import STUDIES
from nnparity.studies.schema import validate
from reference import strict_json

HEADER = """# Reproductions

Written by `nnparity reproduce STUDY` (this file by every run of it, from the JSON beside each study).
Each `STUDY/results.json` holds the numbers and their provenance: command, git commit, package
versions, seeds, machine, date and wall time per framework. Each section gives the study's wall
time, then each framework's own training seconds: frameworks train concurrently (one process each),
so these can add up to more than the wall time. Rerun a study with the command in its section.
"""
MAX_RESULTS_BYTES = 64 << 20  # a study's results.json is kilobytes to a few hundred; an --out folder may hold anything


def render(results_dir: Path) -> str:
    parts = [HEADER]
    for name, module in STUDIES.items():
        path = results_dir / name / "results.json"
        if not path.is_file():
            parts.append(f"## {module.TITLE}\n\nNot run yet: `nnparity reproduce {name}`.\n")
            continue
        data, problems = _read(path)
        if problems:
            parts.append(f"## {module.TITLE}\n\n`{path}` cannot be shown ({problems[0]}): rerun `nnparity reproduce {name}`.\n")
            continue
        p = data["provenance"]
        timing = ", ".join(f"{k} {v:.0f} s" for k, v in p.get("seconds_by_framework", {}).items())
        parts.append(f"## {module.TITLE}\n\n`{p['command']}` ({'quick' if p.get('quick') else 'full'} run, {p.get('date', '?')}, "
                     f"{p['wall_seconds']:.0f} s{'; ' + timing if timing else ''}; commit {str(p.get('git_commit'))[:10]}); "
                     f"rerun this study alone with `nnparity reproduce {name}`.\n\n"
                     + module.markdown(data["results"]))
    return "\n".join(parts)


def _read(path: Path) -> tuple[dict, list[str]]:
    """A study's results and what is wrong with them (an --out folder may hold anything)."""
    try:
        size = path.stat().st_size
        if size > MAX_RESULTS_BYTES:
            return {}, [f"{size:,} bytes, far more than a study writes"]
        data = strict_json.loads(path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # strict_json bounds the nesting
        return {}, [f"not readable JSON: {str(exc)[:120]}"]
    if not isinstance(data, dict):
        return {}, ["not a JSON object"]
    return data, validate(data)


def write(results_dir: Path) -> Path:
    path = results_dir / "README.md"
    text = render(results_dir)
    with atomic.replacing(path) as tmp:
        tmp.write_text(text)
    return path
