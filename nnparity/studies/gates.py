"""The gates (document 004): the XOR network's first forward pass, replayed; then XOR, AND and OR trained
in every framework, from the document's own initial weights and from the spec's."""
from __future__ import annotations

import dataclasses

import numpy as np

from nnparity.studies import aligned, document_code, plots, printed
from nnparity.studies.context import Context
from reference import datasets
from reference import spec as S
from reference.weights import init_weights

NAME = "gates"
TITLE = "XOR, AND and OR gates (document 004)"
DOCUMENT_FIRST_FORWARD = [0.61238907, 0.61939429, 0.73482109, 0.70115106]
GATES = ("xor", "and", "or")


def _spec(gate: str) -> S.Spec:
    base = S.load("gates_xor")
    return S.validate(dataclasses.replace(base, name=f"gates_{gate}",
                                          training=dataclasses.replace(base.training, dataset=S.Dataset("gates", {"gate": gate}))))


def run(ctx: Context) -> dict:
    replay = document_code.gates_forward()
    epochs = 100 if ctx.quick else S.load("gates_xor").training.epochs
    starts = {"document": [np.asarray(w) for w in replay["weights"]], "spec": init_weights(S.load("gates_xor"))}
    runs = {}
    for start, weights in starts.items():
        for gate in GATES:
            spec = _spec(gate)
            data = datasets.for_spec(spec, dtype=np.float64)
            runs[f"{start}/{gate}"] = aligned.run(ctx, spec, data, weights, epochs, f"gates {gate} from the {start}'s weights",
                                                  dtype="float64", eval_every=10)
    fig, axes = plots.figure(ncols=3, nrows=2, width=4, height=3)
    for r, start in enumerate(starts):
        for c, gate in enumerate(GATES):
            ax = axes[r][c]
            for name in ctx.aligned:
                curve = runs[f"{start}/{gate}"][name]["curve"]
                ax.plot([m["epoch"] for m in curve], [m["test_loss"] for m in curve], label=name, color=plots.COLORS[name],
                        linestyle=["-", "--", ":"][ctx.aligned.index(name) % 3])
            ax.set_yscale("log")
            ax.set_title(f"{gate.upper()}, {start}'s initial weights", fontsize=9)
            ax.set_xlabel("epoch")
            ax.set_ylabel("loss")
    axes[0][0].legend(fontsize=7)
    figure = plots.save(fig, ctx.folder(NAME) / "gates_loss.png")
    table = {key: {name: {"accuracy": run[name]["curve"][-1]["test_accuracy"], "loss": run[name]["curve"][-1]["test_loss"],
                          "weight_gap": run["weight_gaps"][name]} for name in ctx.aligned} for key, run in runs.items()}
    return {
        "document": {"first_forward": DOCUMENT_FIRST_FORWARD},
        "replay": {"first_forward": replay["probabilities"],
                   "matches_document": printed.matches(replay["probabilities"], DOCUMENT_FIRST_FORWARD)},
        "training": {"spec": "gates_xor (2 -> 2 sigmoid -> 1 sigmoid, binary cross-entropy, full-batch Adam 0.1)",
                     "epochs": epochs, "results": table},
        "runs": runs,
        "notes": ["From the document's own initial weights (np.random.seed(0), randn), XOR settles in the 2-2-1 "
                  "network's local minimum (outputs 0, 0.5, 1, 0.5) in every framework: plain SGD (lr 1 and 3), "
                  "momentum and Adam (0.03, 0.1) all stay there for 5000 epochs. AND and OR reach 100 %.",
                  "From the spec's weights (seed 0 of the reference's generator) all three gates reach 100 %."],
        "figures": [figure],
    }


def markdown(r: dict) -> str:
    ok = "reproduced" if r["replay"]["matches_document"] else "**not reproduced**"
    lines = [f"First forward pass of the XOR network: document {r['document']['first_forward']}, replay "
             f"{[round(v, 8) for v in r['replay']['first_forward']]}: {ok}.", "",
             f"Trained for {r['training']['epochs']} epochs ({r['training']['spec']}); accuracy on the four rows:", ""]
    names = [k for k in r["runs"][next(iter(r["runs"]))] if k not in ("weight_gaps", "dtype")]
    lines.append("| initial weights | gate | " + " | ".join(names) + " | max weight gap to numpy |")
    lines.append("|" + "---|" * (len(names) + 3))
    for key, res in r["training"]["results"].items():
        start, gate = key.split("/")
        cells = [f"{res[n]['accuracy']:.0%}" for n in names]
        lines.append(f"| {start} | {gate.upper()} | " + " | ".join(cells) + f" | {max(res[n]['weight_gap'] for n in names):.1e} |")
    lines += [""] + [f"- {n}" for n in r["notes"]] + ["", f"![gates]({NAME}/{r['figures'][0]})"]
    return "\n".join(lines) + "\n"
