"""Document 000's even/odd network: its forward pass replayed, and the corrected wiring in three frameworks."""
from __future__ import annotations

import numpy as np

from nnparity.studies import document_code, printed
from nnparity.studies.context import Context
from reference import spec as S

NAME = "even-odd"
TITLE = "Even/odd digits: document 000's forward pass"

# What the document prints (000_b70f1e4c68371b93.txt).
DOCUMENT = {
    "w_1_single_first10": [-0.02509198, 0.09014286, 0.04639879, 0.0197317, -0.06879627, -0.0688011, -0.08838328,
                           0.07323523, 0.020223, 0.04161452],
    "z_single_ends": [-1.11477398, 2.00446732, 1.57488402, 1.02274619, -2.65746847, -1.01276836],
    "a_single_ends": [0.24698194, 0.88126532, 0.82847875, 0.73550718, 0.06553018, 0.26643843],
    "a_1_ends": [[3.59462173e-02, 9.63628877e-01, 4.77342989e-01, 2.76159105e-01, 2.46262672e-01, 7.26458363e-02],
                 [3.73693562e-02, 1.59409117e-04, 9.45090648e-03, 3.81072071e-05, 2.60076382e-03, 1.01253415e-03],
                 [8.72297692e-01, 9.22069900e-01, 8.73739041e-01, 8.88422698e-01, 9.89890473e-01, 8.77486074e-01],
                 [9.35265146e-01, 5.08299415e-02, 6.53151747e-01, 2.79547157e-01, 9.79695284e-01, 9.03811215e-01]],
    "y_hat_sum": 137,
}
STYLE = {"a_1_ends": "scientific"}  # how NumPy printed each (the rest in fixed notation)


def run(ctx: Context) -> dict:
    replay = document_code.even_odd_forward()
    checks = {k: printed.matches(replay[k], v, STYLE.get(k, "fixed")) for k, v in DOCUMENT.items() if k != "y_hat_sum"}
    checks["y_hat_sum"] = replay["y_hat_sum"] == DOCUMENT["y_hat_sum"]
    # The corrected network (a_1, not z_1, into the output neuron) with the document's weights, in every
    # framework: the spec's forward pass with those weights and zero biases.
    spec = S.load("digits_even_odd")
    w_1, w_2 = replay["weights"]
    weights = [w_1, np.zeros(4), w_2, np.zeros(1)]
    images = replay["images"]
    frameworks = {}
    with ctx.task("even-odd: forward pass in each framework", len(ctx.aligned)) as advance:
        for name in ctx.aligned:
            result, arrays = ctx.impl(name).call("nnparity.studies.remote:forward", {"x": images, **{f"w{i}": w for i, w in enumerate(weights)}},
                                                 spec=S.to_dict(spec), dtype="float64", n_weights=4)
            a = arrays["output"][:, 0]
            frameworks[name] = {"y_hat_sum": int((a > 0.5).sum()), "accuracy": float(np.mean((a > 0.5) == replay["y_true"])),
                                "output": a}
            advance()
    ref = frameworks["numpy"]["output"]
    for f in frameworks.values():
        f["max_rel_gap_to_numpy"] = float(np.max(np.abs(f.pop("output") - ref)) / np.max(np.abs(ref)))
    return {
        "document": DOCUMENT,
        "replay": {k: replay[k] for k in ("w_1_single_first10", "z_single_ends", "a_single_ends", "a_1_ends", "y_hat_sum",
                                          "corrected_y_hat_sum", "corrected_accuracy")},
        "replay_matches_document": checks,
        "corrected_network": frameworks,
        "notes": ["The document feeds the hidden layer's pre-activation z_1, not its activation a_1, into the output "
                  "neuron (z_2 = w_2.T.dot(z_1)); the replay follows it and reproduces y_hat.sum() = 137.",
                  f"With a_1 fed instead (the network the spec describes), {replay['corrected_y_hat_sum']} of 1797 digits "
                  f"are called even, an accuracy of {replay['corrected_accuracy']:.3f} for these untrained weights."],
        "figures": [],
    }


def markdown(r: dict) -> str:
    rows = ["| printed by the document | replay | matches |", "|---|---|---|"]
    for key, value in r["document"].items():
        ours = r["replay"][key]
        show = lambda v: str(v) if not isinstance(v, list) else ("[" + ", ".join(f"{x:.8g}" for x in (v[0] if isinstance(v[0], list) else v)[:3]) + ", ...]")
        rows.append(f"| `{key}` = {show(value)} | {show(ours)} | {'yes' if r['replay_matches_document'][key] else '**no**'} |")
    fw = ["| framework | y_hat.sum() (a_1 fed) | accuracy | max rel. gap to numpy |", "|---|---|---|---|"]
    for name, f in r["corrected_network"].items():
        fw.append(f"| {name} | {f['y_hat_sum']} | {f['accuracy']:.4f} | {f['max_rel_gap_to_numpy']:.1e} |")
    return "\n".join(rows) + "\n\n" + "\n".join(f"- {n}" for n in r["notes"]) + "\n\n" + "\n".join(fw) + "\n"
