"""``nnparity specs`` lists the bundled specs; ``nnparity show SPEC`` prints one, fully explicit."""
from __future__ import annotations

import sys

from rich.table import Table

from nnparity.console import out
from reference import spec as S


def _layers(spec: S.Spec) -> str:
    parts = [str(spec.n_inputs)]
    for layer in spec.layers:
        if layer.type == "dense":
            parts.append(f"{layer.units} {layer.activation.name}")
        elif layer.type == "dropout":
            parts.append(f"dropout {layer.rate:g}")
        else:
            parts.append({"batch_norm": "BN", "layer_norm": "LN"}[layer.type])
    return " -> ".join(parts)


def _optimizer(spec: S.Spec) -> str:
    """The optimizer in a few words: its rate or schedule, its clipping."""
    opt = spec.optimizer
    sch = opt.schedule
    rate = f"{opt.params['learning_rate']:g}" if sch is None else f"{sch.name} from {opt.params['learning_rate']:g} per {sch.per}"
    clip = "" if opt.clip is None else f", {opt.clip.rule} {opt.clip.threshold:g}"
    return f"{opt.name} {rate}{clip}"


SHORT_LOSS = {"categorical_crossentropy": "cce", "sparse_categorical_crossentropy": "sparse cce",
              "binary_crossentropy": "bce", "mse": "mse", "half_sse": "half sse"}


def run_list(args) -> int:
    table = Table(title="Bundled specs (reference/specs/); `nnparity show NAME` prints one", title_justify="left")
    for col in ("name", "network", "params", "loss", "optimizer", "dataset", "doc"):
        table.add_column(col, no_wrap=col in ("name", "params"), justify="right" if col == "params" else "left")
    for name in S.bundled_names():
        s = S.load(name)
        table.add_row(name, _layers(s), f"{s.parameter_count():,}", SHORT_LOSS[s.loss.name],
                      _optimizer(s),
                      s.training.dataset.name, s.source.document[:3])
    out.print(table)
    return 0


def run_show(args) -> int:
    s = S.load(args.spec)
    out.print(f"[bold]{s.name}[/]  {_layers(s)}  ({s.parameter_count():,} parameters), {_optimizer(s)}")
    if s.description:
        out.print(s.description, style="dim", markup=False)
    out.file.flush()
    sys.stdout.write(S.dumps(s, "json" if args.json else "toml"))  # verbatim: never wrapped by rich
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("specs", help="list the bundled specs")
    p.set_defaults(run=run_list)
    p = sub.add_parser("show", help="print one spec with every default filled in, and its parameter count")
    p.add_argument("spec", help="a bundled spec name or a .toml/.json file")
    p.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    p.set_defaults(run=run_show)
