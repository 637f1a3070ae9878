"""Bad input and faults, met as a user meets them: the CLI as a subprocess, one case of each kind. Each must end
in one paragraph naming the field or file (exit 2 for a mistake, no traceback), leave no half-written file,
read nothing outside the folder it was given, and leave no process or temporary directory behind."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nnparity import golden
from reference import spec as S

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = "parity_tests.plugins.misbehaving"


@pytest.fixture
def env(tmp_path):
    """A private temporary directory for the command (so a leftover nnparity-* directory is visible) and a marker
    for the processes a plugin starts."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return {**os.environ, "TMPDIR": str(tmp), "NNPARITY_TEST_MARKER": f"marker-{os.getpid()}-{tmp_path.name}",
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "COLUMNS": "200"}


def cli(env, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnparity.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def refused(proc, *named: str) -> None:
    """Exit 2, one paragraph naming ``named``, no traceback, nothing on stdout."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    assert all(n in proc.stderr for n in named), proc.stderr
    assert len(proc.stderr) < 3000


def survivors(env) -> list[str]:
    found = subprocess.run(["pgrep", "-f", env["NNPARITY_TEST_MARKER"]], capture_output=True, text=True).stdout.split()
    return [p for p in found if int(p) != os.getpid()]


def leftovers(env) -> list[str]:
    return [p for p in os.listdir(env["TMPDIR"]) if p.startswith("nnparity-")]


# ---- output paths ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("where, named", [
    (lambda t: t / "adir", "is a directory"),
    (lambda t: t / "afile" / "x.json", "is a file, so nothing can be written under it"),
    (lambda t: Path("/proc/nnparity.json"), "cannot write there"),
], ids=["json-is-a-directory", "json-under-a-file", "json-on-a-filesystem-that-refuses"])
def test_an_output_path_that_cannot_be_written_is_refused_before_any_work(env, tmp_path, where, named):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("keep me")
    target = where(tmp_path)
    started = time.perf_counter()
    proc = cli(env, "parity", "--spec", "gates_xor", "--impl", "numpy", "--json", target)
    refused(proc, str(target), named)
    assert time.perf_counter() - started < 30  # refused up front, not after the matrix
    assert (tmp_path / "afile").read_text() == "keep me" and not list((tmp_path / "adir").iterdir())


def test_output_folders_that_are_files_are_refused(env, tmp_path):
    (tmp_path / "afile").write_text("")
    refused(cli(env, "reproduce", "gates", "--quick", "--out", tmp_path / "afile"), "--out", "is a file, not a directory")
    refused(cli(env, "golden", "export", tmp_path / "afile", "--spec", "gates_xor"), "is a file, not a directory")
    refused(cli(env, "bench", "--quick", "--out", tmp_path / "afile"), "--out", "is a file")


# ---- arguments -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, named", [
    (["parity", "--timeout", "0"], "--timeout"),
    (["check", "--impl", "numpy", "--timeout", "-3"], "--timeout"),
    (["parity", "--json", "a.json", "--json", "b.json"], "--json was given twice"),
    (["check", "--impl", "numpy", "--impl", "torch"], "--impl was given twice"),
    (["gradcheck", "gates_xor", "--rows", "0"], "--rows"),
    (["golden", "export", "x", "--steps", "0"], "--steps"),
    (["parity", "--steps", "many"], "--steps"),
    (["parity", "--spec", "gates_xor", "--steps", str(10**12)], "needs about"),
    (["divergences", "--topic", "nope"], "--topic"),
    (["parity", "--check", "speed"], "--check speed"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_impossible_or_repeated_arguments_are_refused(env, args, named):
    refused(cli(env, *args), named)


def test_golden_verify_refuses_an_unknown_check(env, tmp_path):
    golden.export(tmp_path / "g", ["gates_xor"], ["float64"], steps=2)
    refused(cli(env, "golden", "verify", tmp_path / "g", "--impl", "numpy", "--check", "bogus"), "--check bogus")


# ---- spec files ------------------------------------------------------------------------------------------

def _spec_text(fmt="toml") -> str:
    return S.dumps(S.load("gates_xor"), fmt)


@pytest.mark.parametrize("name, content, named", [
    ("markup.toml", lambda: _spec_text().replace('activation = "sigmoid"', 'activation = "[/x]"', 1), "unknown activation '[/x]'"),
    ("dup.json", lambda: _spec_text("json").replace('"seed": 0,', '"seed": 0, "seed": 1,'), "key 'seed' appears twice"),
    ("deep.json", lambda: "[" * 100_000 + "]" * 100_000, "nested more than"),
    ("deep.toml", lambda: "a = " + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("huge.json", lambda: json.dumps({**json.loads(_spec_text("json")), **{f"k{i}": i for i in range(400_000)}}), "a spec is a few kilobytes"),
    ("units.json", lambda: _spec_text("json").replace('"units": 2', f'"units": {10**12}', 1), "needs about"),
], ids=lambda v: v if isinstance(v, str) and "." in v else None)
def test_a_bad_spec_file_is_one_bounded_paragraph(env, tmp_path, name, content, named):
    path = tmp_path / name
    path.write_text(content())
    refused(cli(env, "parity", "--spec", path, "--impl", "numpy", "--check", "loss"), str(path), named)


def test_thousands_of_problems_are_counted_not_listed(env, tmp_path):
    spec = json.loads(_spec_text("json"))
    spec.update({f"unknown_{i}": i for i in range(5000)})
    path = tmp_path / "many.json"
    path.write_text(json.dumps(spec))
    proc = cli(env, "show", path)
    refused(proc, "unknown_0: unknown field", "4,990 more unknown fields")


def test_markup_in_a_path_is_printed_not_interpreted(env, tmp_path):
    odd = tmp_path / "[" / "x]"
    odd.mkdir(parents=True)
    refused(cli(env, "show", odd / "missing.toml"), "[/x]/missing.toml")


# ---- datasets --------------------------------------------------------------------------------------------

def test_a_corrupt_fashion_mnist_file_is_named(env, tmp_path):
    from reference import fashion_mnist

    folder = tmp_path / "fm"
    folder.mkdir()
    for name in fashion_mnist.FILES:
        shutil.copy(fashion_mnist._find(name), folder / f"{name}.gz")
    broken = folder / "train-labels-idx1-ubyte.gz"
    data = bytearray(broken.read_bytes())
    data[40:60] = bytes(20)  # inside the deflate stream
    broken.write_bytes(bytes(data))
    refused(cli({**env, "NNPARITY_DATA_DIR": str(folder)}, "parity", "--spec", "fashion_relu32_so", "--impl", "numpy",
                "--check", "loss"), str(broken), "cannot read this Fashion-MNIST file")


# ---- golden files ----------------------------------------------------------------------------------------

CASE = "gates_xor-float64"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("golden") / "g"
    golden.export(d, ["gates_xor"], ["float64"], steps=2)
    return d


def _manifest_edit(f):
    def edit(d: Path):
        path = d / CASE / "manifest.json"
        m = json.loads(path.read_text())
        f(m)
        path.write_text(json.dumps(m))
    return edit


def _relist(d: Path, name: str) -> None:
    path = d / CASE / "manifest.json"
    m = json.loads(path.read_text())
    f = d / CASE / name
    m["files"][name] = {"sha256": golden._sha256(f), "bytes": f.stat().st_size}
    path.write_text(json.dumps(m))


def _npy_for_npz(d: Path) -> None:
    p = d / CASE / "inputs.npz"
    with open(p, "wb") as f:
        np.save(f, np.zeros(3))
    _relist(d, "inputs.npz")


def _drop_array(d: Path) -> None:
    p = d / CASE / "inputs.npz"
    with np.load(p) as f:
        arrays = {k: f[k] for k in f.files if k != "weights/layers[0].bias"}
    np.savez(p, **arrays)
    _relist(d, "inputs.npz")


def _link_out(d: Path) -> None:
    p = d / CASE / "inputs.npz"
    p.unlink()
    os.symlink("/etc/hostname", p)


@pytest.mark.parametrize("edit, named", [
    (_manifest_edit(lambda m: m["files"].update({"../../../../etc/hostname": {"sha256": "0" * 64, "bytes": 1}})), "is not a plain file name"),
    (_manifest_edit(lambda m: m["files"].update({"/etc/hostname": {"sha256": "0" * 64, "bytes": 1}})), "is not a plain file name"),
    (lambda d: (d / "index.json").write_text(json.dumps({"format": golden.FORMAT, "cases": [f"../g/{CASE}"]})), "is not a plain file name"),
    (lambda d: (d / "index.json").write_text("[1, 2]"), "expected a JSON object, found a list"),
    (_manifest_edit(lambda m: m.__setitem__("files", ["inputs.npz"])), "files: got"),
    (_manifest_edit(lambda m: m.pop("files")), "files: required"),
    (_manifest_edit(lambda m: m["files"]["inputs.npz"].pop("bytes")), "files.inputs.npz.bytes"),
    (_manifest_edit(lambda m: m["files"].pop("expected-forward.npz")), "is read by this check but not listed"),
    (_npy_for_npz, "not an .npz archive"),
    (_drop_array, "no array 'weights/layers[0].bias'"),
    (_link_out, "leads outside"),
    # a folder written before layer kinds (format 1): refused with how to regenerate it
    (lambda d: (d / "index.json").write_text(json.dumps({"format": "nnparity-golden/1", "cases": [CASE]})),
     "written in nnparity-golden/1"),
], ids=["dotdot", "absolute", "index-escape", "index-list", "files-list", "no-files", "no-bytes", "unlisted", "npy", "missing-array", "symlink", "format-1"])
def test_a_golden_folder_never_makes_verify_read_outside_it_or_trust_an_unlisted_file(env, exported, tmp_path, edit, named):
    d = tmp_path / "g"
    shutil.copytree(exported, d, symlinks=True)
    edit(d)
    refused(cli(env, "golden", "verify", d, "--impl", "numpy"), named)


# ---- processes and temporary files -------------------------------------------------------------------------

def _start_hanging(env, tmp_path) -> subprocess.Popen:
    """parity with a plugin that starts two children (one in its own session) and hangs; returned once they run."""
    proc = subprocess.Popen([sys.executable, "-m", "nnparity.cli", "parity", "--spec", "gates_xor", "--impl",
                             f"{PLUGINS}:SpawnsChildren", "--check", "forward", "--dtype", "float64", "--timeout", "120"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            # as from a terminal: a pytest-xdist worker ignores SIGINT, and children inherit that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while len(survivors(env)) < 2 and time.time() < deadline:
        time.sleep(0.1)
    assert len(survivors(env)) == 2 and leftovers(env), "the plugin's children should be running by now"
    return proc


def _settled(env, seconds: float = 5.0) -> tuple[list, list]:
    deadline = time.time() + seconds
    while (survivors(env) or leftovers(env)) and time.time() < deadline:
        time.sleep(0.1)
    return survivors(env), leftovers(env)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)],
                         ids=["ctrl-c", "sigterm", "sigkill"])
def test_no_process_or_temporary_directory_outlives_the_command(env, tmp_path, sig, code):
    proc = _start_hanging(env, tmp_path)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == code
    assert _settled(env) == ([], []), "workers, their children (setsid ones too) and worker directories must be gone"


def test_a_timeout_ends_the_plugin_and_what_it_started(env):
    proc = cli(env, "parity", "--spec", "gates_xor", "--impl", f"{PLUGINS}:SpawnsChildren", "--check", "forward",
               "--dtype", "float64", "--timeout", "5")
    assert proc.returncode == 1 and "no answer to 'collect' within 5 s" in proc.stdout
    assert _settled(env) == ([], [])


def test_a_hang_in_available_is_bounded_by_the_timeout(env):
    started = time.perf_counter()
    proc = cli(env, "check", "--impl", f"{PLUGINS}:HangsInAvailable", "--spec", "gates_xor", "--timeout", "3")
    refused(proc, "did not start within --timeout 3 s")
    assert time.perf_counter() - started < 30
    assert _settled(env) == ([], [])


def test_a_temporary_file_a_killed_writer_left_is_removed_by_the_next_write(tmp_path):
    from nnparity import atomic

    stale = tmp_path / ".fig.png.nnparity-999999999-abc.png"  # no such pid
    stale.write_bytes(b"half a png")
    with atomic.replacing(tmp_path / "results.json") as tmp:
        tmp.write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_children_a_plugin_forgets_do_not_outlive_a_successful_command(env):
    proc = cli(env, "check", "--impl", f"{PLUGINS}:LeavesChildren", "--spec", "gates_xor", "--check", "forward")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert _settled(env) == ([], [])
