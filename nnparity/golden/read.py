"""Reading golden files, trusting nothing: a golden folder may come from anyone.

Before anything runs, ``verify`` (1) reads ``index.json`` and every ``manifest.json`` (strict JSON: no
duplicate keys, bounded nesting and size), (2) accepts only plain names for cases and files — no path
separators, no ``..``, no absolute path, no link that resolves outside the folder — so nothing outside the
golden folder is ever opened, (3) validates each manifest's shape with field-path errors, as a spec's,
(4) requires every file a check reads to be listed in the manifest and checks each listed file's size and
SHA-256, and (5) loads each case's arrays with ``allow_pickle=False``, refusing a missing array, an array
of the wrong shape or an index out of range. Every problem is a ``GoldenError`` naming the file.
"""
from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import numpy as np

from nnparity import runner
from reference import spec as S
from reference import strict_json
from reference import weights as W
from reference.checks import CHECKS, STEP_COUNT, Case, check_names
from reference.checks import keys as K
from reference.errors import SpecError, UserError
from reference.judge import Judge
from reference.weights import tensor_shapes

FORMAT = "nnparity-golden/2"
OLD_FORMATS = {"nnparity-golden/1": "before layer kinds and named tensors (arrays keyed w0, g0, s0w0, ...)"}
MAX_JSON_BYTES = 64 << 20  # a manifest is kilobytes; this bounds what a hostile one can make us parse
SHOWN = 12  # problems listed per manifest; the rest are counted


class GoldenError(UserError):
    """A golden directory that is missing, malformed, changed or truncated, or names files outside itself."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def inside(folder: Path, name, where: str) -> Path:
    """``folder / name`` for a plain ``name``; a ``GoldenError`` (before anything is opened) for one that is not,
    or that resolves (through a link) outside ``folder``."""
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
            or name.startswith("~")):
        raise GoldenError(f"{where}: {str(name)[:80]!r} is not a plain file name inside {folder}; a golden folder "
                          "may only name its own files. Re-export it with `nnparity golden export`.")
    path = folder / name
    if not path.resolve().is_relative_to(folder.resolve()):
        raise GoldenError(f"{where}: {name!r} leads outside {folder} (a link?); refusing to read it.")
    return path


def read_json(path: Path) -> dict:
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise GoldenError(f"{path}: {size:,} bytes, far more than a golden index or manifest holds; not reading it.")
        data = strict_json.loads(path.read_bytes())
    except FileNotFoundError:
        raise GoldenError(f"{path}: missing; is this a directory written by `nnparity golden export`?") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise GoldenError(f"{path}: not readable JSON ({str(exc)[:200]}); re-export it with `nnparity golden export`.") from None
    if not isinstance(data, dict):
        raise GoldenError(f"{path}: expected a JSON object, found a {type(data).__name__}; re-export it with `nnparity golden export`.")
    return data


def check_index(directory: Path) -> list[Path]:
    """The case folders ``index.json`` names, each checked to be a plain name inside ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise GoldenError(f"{directory}: not a directory; give the folder `nnparity golden export DIR` wrote.")
    path = directory / "index.json"
    index = read_json(path)
    _format(index, path)
    cases = index.get("cases")
    if not isinstance(cases, list) or not cases:
        raise GoldenError(f"{path}: 'cases' must be a non-empty list of case folder names.")
    return [inside(directory, name, f"{path}: cases[{i}]") for i, name in enumerate(cases)]


def _format(data: dict, path: Path) -> None:
    found = data.get("format")
    if found in OLD_FORMATS:
        raise GoldenError(f"{path}: written in {found}, {OLD_FORMATS[found]}; this nnparity reads {FORMAT}. Regenerate the "
                          "folder with `nnparity golden export DIR` (same --spec, --dtype and --steps) and verify again.")
    if found != FORMAT:
        raise GoldenError(f"{path}: format {str(found)[:60]!r}, expected {FORMAT!r}; re-export it with `nnparity golden export`.")


# ---- the manifest, field by field ----------------------------------------------------------------------

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def _shape_problems(m: dict) -> list[str]:
    """Every problem with a manifest's shape, by field path."""
    p: list[str] = []

    def want(key, ok, what):
        if key not in m:
            p.append(f"{key}: required ({what})")
            return None
        if not ok(m[key]):
            p.append(f"{key}: got {str(m[key])[:60]!r}; expected {what}")
            return None
        return m[key]

    want("format", lambda v: v == FORMAT, repr(FORMAT))
    want("state_names", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v), "a list of state tensor names")
    want("mask_layers", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v), "a list of dropout layers")
    want("spec", lambda v: isinstance(v, dict), "the spec, as a JSON object")
    want("dtype", lambda v: v in ("float64", "float32"), "'float64' or 'float32'")
    want("device", lambda v: v in ("cpu", "cuda"), "'cpu' or 'cuda'")
    want("tensor_names", lambda v: isinstance(v, list) and v and all(isinstance(n, str) for n in v), "a list of tensor names")
    batches = want("n_batches", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1")
    files = want("files", lambda v: isinstance(v, dict) and v, "an object: file name -> {sha256, bytes}")
    checks = want("checks", lambda v: isinstance(v, dict) and v, "an object: check name -> {tolerance, expected, ...}")
    for name, meta in (files or {}).items():
        if not isinstance(meta, dict):
            p.append(f"files.{name}: expected {{sha256, bytes}}")
            continue
        if not (isinstance(meta.get("sha256"), str) and _HEX64.match(meta["sha256"])):
            p.append(f"files.{name}.sha256: expected 64 lowercase hex digits")
        if not (isinstance(meta.get("bytes"), int) and not isinstance(meta.get("bytes"), bool) and meta["bytes"] >= 0):
            p.append(f"files.{name}.bytes: expected an integer >= 0")
    known = set(check_names())
    for name, entry in (checks or {}).items():
        at = f"checks.{name}"
        if name not in known:
            p.append(f"{at}: unknown check; known: {', '.join(sorted(known))}")
            continue
        if not isinstance(entry, dict):
            p.append(f"{at}: expected an object")
            continue
        if not (_is_number(entry.get("tolerance")) and entry["tolerance"] >= 0):
            p.append(f"{at}.tolerance: expected a number >= 0")
        expected = entry.get("expected")
        if name != "weights" and not isinstance(expected, str):
            p.append(f"{at}.expected: expected the name of its .npz file")
        elif name != "weights" and isinstance(files, dict) and expected not in files:
            p.append(f"{at}.expected: {expected[:60]!r} is read by this check but not listed (with its SHA-256) under files")
        if name == "early-stopping":
            tols = entry.get("tolerances")
            if not (isinstance(tols, list) and tols and all(_is_number(t) and t >= 0 for t in tols)):
                p.append(f"{at}.tolerances: expected a number >= 0 per epoch run and one for the weights")
        if name == "trajectory":
            tols = entry.get("tolerances")
            if not (isinstance(tols, list) and all(_is_number(t) and t >= 0 for t in tols) and (batches is None or len(tols) == batches)):
                p.append(f"{at}.tolerances: expected n_batches numbers >= 0")
    if isinstance(files, dict) and "inputs.npz" not in files:
        p.append("files: inputs.npz is read by every check but not listed (with its SHA-256)")
    return p


def load_manifest(folder: Path) -> dict:
    """The case's manifest, validated, after every file it lists has been checked for size and SHA-256."""
    path = folder / "manifest.json"
    manifest = read_json(path)
    _format(manifest, path)
    problems = _shape_problems(manifest)
    if problems:
        more = f"\n  ... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        raise GoldenError(f"{path}: not a valid golden manifest:\n" + "\n".join(f"  - {q}" for q in problems[:SHOWN]) + more)
    try:
        manifest["spec_object"] = S.from_dict(manifest["spec"], f"{path}: spec")
    except SpecError as exc:
        raise GoldenError(str(exc)) from None
    for name, meta in manifest["files"].items():
        file = inside(folder, name, f"{path}: files")
        if not file.is_file():
            raise GoldenError(f"{file}: listed in the manifest but missing.")
        size = file.stat().st_size
        if size != meta["bytes"] or sha256(file) != meta["sha256"]:
            what = "truncated" if size < meta["bytes"] else "changed"
            raise GoldenError(f"{file}: SHA-256 mismatch ({what}: {size:,} bytes, manifest says {meta['bytes']:,}); "
                              "the golden data cannot be trusted: re-export it with `nnparity golden export`.")
    return manifest


def arrays(path: Path) -> dict:
    """Every array of an .npz archive (never pickles); a GoldenError for anything else."""
    try:
        if not zipfile.is_zipfile(path):
            raise GoldenError(f"{path}: not an .npz archive (an .npz is a ZIP of .npy files); re-export it.")
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except GoldenError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise GoldenError(f"{path}: not a readable .npz ({str(exc)[:200]}); re-export it.") from None


def _take(a: dict, key: str, path: Path, shape=None, kind: str | None = None) -> np.ndarray:
    if key not in a:
        raise GoldenError(f"{path}: no array {key!r}; the file is incomplete: re-export it.")
    value = a[key]
    if shape is not None and value.shape != tuple(shape):
        raise GoldenError(f"{path}: array {key!r} has shape {value.shape}, the manifest's spec needs {tuple(shape)}.")
    if kind is not None and value.dtype.kind not in kind:
        raise GoldenError(f"{path}: array {key!r} has dtype {value.dtype}, expected {'integers' if kind == 'iu' else 'floats'}.")
    return value


def load_case(folder: Path, manifest: dict) -> Case:
    """The case in ``inputs.npz``, every array it needs present, of the shape the spec says, indices in range."""
    path = folder / "inputs.npz"
    a = arrays(path)
    spec = manifest["spec_object"]
    shapes, state_shapes = tensor_shapes(spec), W.state_shapes(spec)
    if manifest["tensor_names"] != W.tensor_names(spec) or manifest["state_names"] != W.state_names(spec):
        raise GoldenError(f"{folder / 'manifest.json'}: tensor_names and state_names must be its spec's canonical names.")
    names = manifest["tensor_names"]
    for n, s in zip(names, shapes):
        _take(a, K.weight(n), path, s, "f"), _take(a, K.large(K.weight(n)), path, s, "f"), _take(a, K.sample(n), path, kind="iu")
    for n, s in zip(manifest["state_names"], state_shapes):
        _take(a, K.state(n), path, s, "f")
    x, pool_x = _take(a, "x", path, kind="f"), _take(a, "pool_x", path, kind="f")
    if x.ndim != 2 or x.shape[1] != spec.n_inputs or pool_x.ndim != 2 or pool_x.shape[1] != spec.n_inputs:
        raise GoldenError(f"{path}: x and pool_x must have {spec.n_inputs} columns, as the spec's input_shape says.")
    y, pool_y = _take(a, "y", path), _take(a, "pool_y", path)
    if len(y) != len(x) or len(pool_y) != len(pool_x):
        raise GoldenError(f"{path}: x and y (or pool_x and pool_y) have different numbers of rows.")
    batches = [_take(a, K.batch(k), path, kind="iu") for k in range(manifest["n_batches"])]
    if any(b.ndim != 1 or (b.size and (b.min() < 0 or b.max() >= len(pool_x))) for b in batches):
        raise GoldenError(f"{path}: a batch indexes rows outside pool_x (0..{len(pool_x) - 1}).")
    if any(s.ndim != 1 or (s.size and (s.min() < 0 or s.max() >= int(np.prod(sh))))
           for s, sh in zip((a[K.sample(n)] for n in names), shapes)):
        raise GoldenError(f"{path}: a sample indexes elements outside its tensor.")
    widths = dict(zip((f"layers[{i}]" for i in range(len(spec.layers))), (w for w, _ in spec.layer_sizes())))
    for layer in manifest["mask_layers"]:
        if layer not in widths or spec.layers[int(layer[7:-1])].type != "dropout":
            raise GoldenError(f"{folder / 'manifest.json'}: mask_layers names {layer!r}, which is no dropout layer of its spec.")
        for s in range(STEP_COUNT):
            _take(a, K.check_mask(s, layer), path, (len(x), widths[layer]), "b")
        for k, b in enumerate(batches):
            _take(a, K.batch_mask(k, layer), path, (len(b), widths[layer]), "b")
    meta = {"dtype": manifest["dtype"], "device": manifest["device"], "n_batches": manifest["n_batches"],
            "mask_layers": manifest["mask_layers"]}
    return Case.from_arrays(meta, a, spec)


class GoldenJudge(Judge):
    """A Judge whose reference answers and tolerances come from the golden files instead of the reference."""

    def __init__(self, case: Case, folder: Path, manifest: dict, label: str):
        super().__init__(case, label)
        self.folder, self.manifest = folder, manifest

    def reference(self, check: str) -> dict:
        key = CHECKS[check].shares or check
        if key not in self._cache:
            if key == "weights":
                return super().reference(key)
            entry = self.manifest["checks"].get(key)
            if entry is None:
                raise GoldenError(f"{self.folder / 'manifest.json'}: no entry for the {key} check, which {check} reads.")
            self._cache[key] = arrays(inside(self.folder, entry["expected"], f"{self.folder / 'manifest.json'}: checks.{key}"))
        return self._cache[key]

    def tolerance(self, check: str) -> tuple[float, list[float]]:
        entry = self.manifest["checks"][check]
        return entry["tolerance"], entry.get("tolerances", [])

    def chaos(self) -> tuple[int | None, float | None]:
        entry = self.manifest["checks"]["trajectory"]
        return entry.get("horizon"), entry.get("growth")


def verify(directory: Path, impl, checks: list[str] | None = None, timeout: float | None = None,
           progress=lambda o: None) -> list[runner.Outcome]:
    """Every case in ``directory`` (every file validated first), each check judged as the matrix judges it."""
    loaded = [(f, load_manifest(f)) for f in check_index(Path(directory))]
    for folder, manifest in loaded:
        for check in checks or []:
            if check not in manifest["checks"]:
                raise GoldenError(f"--check {check}: {folder.name} has no such check; it has {', '.join(manifest['checks'])}.")
    hello = runner.greet(impl)
    outcomes = []
    for folder, manifest in loaded:
        case = load_case(folder, manifest)
        judge = GoldenJudge(case, folder, manifest, str(manifest.get("case") or folder.name))
        why = runner.unavailable(hello, impl.name, case.device)
        earlier: dict[str, runner.Outcome] = {}
        for check in checks or list(manifest["checks"]):
            if hello.get("error") is not None:
                o = runner.error_outcome(judge.label, impl.name, case, check, hello["error"])
            elif why is not None:
                o = runner.Outcome(judge.label, impl.name, case.dtype, case.device, check, "skip", message=why)
            else:
                o = runner.one(judge, impl, impl.name, check, timeout, earlier)
            earlier[check] = o
            outcomes.append(o)
            progress(o)
        if hasattr(impl, "release"):
            impl.release(case)
    return outcomes
