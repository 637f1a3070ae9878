"""The spec language: round trips, and every validation error path (field path + what is allowed)."""
import copy
import json
import math

import pytest

from reference import spec as S
from reference.errors import SpecError


@pytest.mark.parametrize("name", S.bundled_names())
def test_toml_and_json_round_trip(name, tmp_path):
    spec = S.load(name)
    for fmt in ("toml", "json"):
        path = tmp_path / f"{name}.{fmt}"
        path.write_text(S.dumps(spec, fmt))
        assert S.load(path) == spec
    assert S.validate(spec) == spec
    assert spec.description and (spec.source.document or spec.source.section == "coverage")


def test_every_bundled_spec_names_an_existing_source_document():
    import pathlib
    seeds = pathlib.Path(__file__).resolve().parents[2] / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip("../shared/seeds is not beside this checkout")
    for name in S.bundled_names():
        spec = S.load(name)
        if spec.source.section == "coverage":
            continue  # the coverage specs exercise what no document network uses
        assert (seeds / spec.source.document).is_file(), name


def base():
    return S.to_dict(S.load("digits_sigmoid50"))


def problems_of(d) -> list[str]:
    with pytest.raises(SpecError) as info:
        S.from_dict(d, "test")
    return info.value.problems


def edit(path, value):
    d = base()
    target = d
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d


DELETE = object()

CASES = [
    (("layers", 1, "activation"), "relu6", "layers[1].activation: unknown activation 'relu6'; known: sigmoid, tanh"),
    (("layers", 0, "activation"), {"name": "leaky_relu"}, "layers[0].activation.alpha: required"),
    (("layers", 0, "activation"), {"name": "elu", "slope": 1}, "layers[0].activation.slope: unknown parameter; known: alpha"),
    (("layers", 0, "units"), 0, "layers[0].units: got 0; a layer needs at least 1 unit"),
    (("layers", 0, "units"), 2.5, "layers[0].units: got 2.5; expected an integer"),
    (("layers", 0, "kernel_init"), {"name": "normal"}, "layers[0].kernel_init.std: required"),
    (("layers", 0, "kernel_init"), {"name": "orthogonal"}, "layers[0].kernel_init.name: unknown initializer 'orthogonal'"),
    (("layers", 0, "kernel_init"), {"name": "he_normal", "variant": "tf"}, "layers[0].kernel_init.variant: got 'tf'; expected one of 'keras', 'torch'"),
    (("layers", 0, "l2"), -0.1, "layers[0].l2: got -0.1; expected a number >= 0"),
    (("layers", 0, "dropout"), 0.5, "layers[0].dropout: unknown field"),
    (("optimizer", "learning_rate"), math.nan, "optimizer.learning_rate: got nan; expected a finite number"),
    (("optimizer", "learning_rate"), -0.01, "optimizer.learning_rate: got -0.01; expected a number in (0, inf]"),
    (("optimizer", "name"), "lbfgs", "optimizer.name: unknown optimizer 'lbfgs'; known: sgd, momentum"),
    (("optimizer", "momentum"), 0.9, "optimizer.momentum: unknown parameter; known: learning_rate"),
    (("loss", "name"), "hinge", "loss.name: unknown loss 'hinge'"),
    (("loss", "reduction"), "none", "loss.reduction: got 'none'; expected one of mean, sum"),
    (("input_shape",), [65], "input_shape: got [65]; digits gives 64 features"),
    (("input_shape",), [8, 8], "input_shape: got [8, 8]; dense networks take flat inputs"),
    (("layers",), [], "layers: the network has no layers"),
    (("dtype",), "float16", "dtype: got 'float16'; expected one of float32, float64"),
    (("seed",), DELETE, "seed: required (an integer)"),
    (("colour",), "blue", "colour: unknown field"),
    (("training", "batch_size"), 0, "training.batch_size: got 0; expected an integer >= 1"),
    (("training", "dataset"), {"name": "mnist"}, "training.dataset.name: unknown dataset 'mnist'; known: digits"),
    (("training", "dataset"), {"name": "digits", "target": "odd"}, "training.dataset.target: got 'odd'; expected one of 'digit', 'even'"),
    (("training", "split"), {"method": "official"}, "training.split.method: digits allows 'random', 'none'; got 'official'"),
    (("training", "split"), {"method": "random", "test_fraction": 1.5}, "training.split.test_fraction: got 1.5; expected a number in (0, 1)"),
    (("layers", 1, "units"), 9, "layers[1].units: categorical_crossentropy on digits needs 10 outputs (one per class); got 9"),
]


@pytest.mark.parametrize("path, value, message", CASES, ids=[c[2].split(":")[0] + "-" + str(i) for i, c in enumerate(CASES)])
def test_validation_names_the_field_and_what_is_allowed(path, value, message):
    found = problems_of(edit(path, value))
    assert any(p.startswith(message) for p in found), found


def test_softmax_output_with_a_binary_loss_is_refused():
    d = base()
    d["loss"]["name"] = "binary_crossentropy"
    d["training"]["dataset"]["target"] = "even"
    found = problems_of(d)
    assert any("binary_crossentropy is computed from the logits of a 'sigmoid' output; got 'softmax'" in p for p in found)
    assert any("binary_crossentropy needs one output" in p for p in found)


def test_all_problems_are_reported_together():
    d = base()
    d["layers"][0]["activation"] = "relu6"
    d["optimizer"]["learning_rate"] = -1.0
    d["extra"] = 1
    assert len(problems_of(d)) == 3


def test_unknown_spec_name_and_broken_files(tmp_path):
    with pytest.raises(S.UserError, match="no bundled spec of that name. Bundled: breast_cancer_relu10"):
        S.load("no_such_spec")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        S.load(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(json.dumps([1, 2]))
    with pytest.raises(SpecError, match="one table"):
        S.load(bad_json)


def test_aliases_and_defaults_are_resolved():
    d = base()
    d["layers"][0]["activation"] = "swish"
    d["layers"][0]["kernel_init"] = {"name": "xavier_normal"}
    d["optimizer"] = {"name": "adam"}
    spec = S.from_dict(copy.deepcopy(d))
    assert spec.layers[0].activation.name == "silu"
    assert spec.layers[0].kernel_init == S.Initializer("glorot_normal", {"variant": "keras"})
    assert spec.optimizer.params == {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "eps_mode": "keras"}
