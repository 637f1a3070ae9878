"""``nnparity bench`` works end to end (its quick mode); no timing is asserted, only what it reports."""
import json

import numpy as np
import pytest

from nnparity.bench.flops import training_step
from nnparity.bench.remote import epoch_batches
from nnparity.cli import main
from nnparity.commands.bench import ratios
from reference import spec as S


def test_training_step_flops_of_the_headline_network():
    # 784-500-300-100-10 at batch 32: forward 2 B sum(in*out); backward twice that, minus layer 0's error.
    spec, b = S.load("fashion_relu500_300_100"), 32
    products = [784 * 500, 500 * 300, 300 * 100, 100 * 10]
    assert training_step(spec, b) == 2 * b * (2 * products[0] + 3 * sum(products[1:]))


def test_an_epoch_is_full_batches_wrapping_to_the_start():
    batches = epoch_batches(np.arange(10), 4)
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]]


def test_ratios_are_to_torch_at_the_same_batch_with_the_issues_targets():
    timings = [{"impl": i, "dtype": "float32", "batch": b, "device": "cpu", "seconds": [s], "median_seconds": s}
               for i, b, s in [("torch", 32, 2.0), ("numpy", 32, 2.2), ("keras-jax", 32, 3.2), ("numpy", 256, 1.0), ("torch", 256, 1.0)]]
    ratios(timings)
    by = {(t["impl"], t["batch"]): t for t in timings}
    assert by["numpy", 32]["ratio_to_torch"] == pytest.approx(1.1) and by["numpy", 32]["meets_target"] is True
    assert by["keras-jax", 32]["target_ratio"] == 1.5 and by["keras-jax", 32]["meets_target"] is False
    assert by["numpy", 256]["target_ratio"] == 1.1 and by["torch", 32]["target_ratio"] is None


def test_quick_bench_writes_timings_against_the_measured_peak(tmp_path, capsys, monkeypatch):
    from nnparity.console import out

    monkeypatch.setattr(out, "width", 200)  # the table's header on one line, whatever the terminal (xdist: 80)
    assert main(["bench", "--quick", "--impl", "numpy", "--impl", "torch", "--batch", "32", "--rows", "256",
                 "--repeats", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "bench-quick.json").read_text())
    assert data["provenance"]["quick"] is True and data["peak"]["gflops"]["float32"]["peak"] > 0
    for t in data["timings"]:
        assert t["error"] is None and t["steps"] == 8 and len(t["seconds"]) == 1
        assert t["samples_per_second"] > 0 and 0 < t["fraction_of_peak"] < 2
    assert {t["impl"]: t["ratio_to_torch"] for t in data["timings"]}["torch"] == 1.0
    assert (tmp_path / "bench-quick.png").stat().st_size > 0
    assert "x torch" in capsys.readouterr().out


def test_bench_rejects_a_batch_larger_than_the_rows(tmp_path, capsys):
    assert main(["bench", "--rows", "16", "--batch", "32", "--out", str(tmp_path)]) == 2
    assert "--rows 16" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
