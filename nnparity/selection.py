"""What a run covers: specs x implementations x dtypes x devices x checks, each spec under a unique label.

A spec is given by a bundled name or a file path (``--spec path/to/net.toml``); its cells are named
by its ``name`` field, not by how it was given. Two files whose specs share a ``name`` are both run:
each then carries the path it came from (``net@a/net.toml``, ``net@b/net.toml``), so every cell has
its own id. The same spec given twice is run once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from reference import spec as S
from reference.checks import TRAJECTORY_STEPS, check_names


@dataclass(frozen=True)
class LabelledSpec:
    label: str  # the name cells carry: the spec's name, or name@path where two specs share it
    spec: S.Spec
    given: str  # how the user named it: a bundled name or a path


def label_specs(given: list) -> list[LabelledSpec]:
    """Load every spec (a bad name or file is a UserError now, before any work) and label each uniquely.
    Specs labelled already (``LabelledSpec``) keep their labels."""
    if all(isinstance(g, LabelledSpec) for g in given):
        return list(given)
    loaded, seen = [], set()
    for g in given:
        spec = S.load(g)
        key = S.dumps(spec)
        if key in seen:
            continue
        seen.add(key)
        loaded.append((g, spec))
    names = [spec.name for _, spec in loaded]
    return [LabelledSpec(spec.name if names.count(spec.name) == 1 else f"{spec.name}@{g}", spec, g) for g, spec in loaded]


@dataclass
class Selection:
    specs: list  # bundled names or paths, as given (or LabelledSpec, labelled already)
    impls: list[str]
    dtypes: list[str]
    devices: list[str]
    checks: list[str]
    steps: int = TRAJECTORY_STEPS
    # Worker processes per implementation, sharing its cases round-robin. One each by default: the
    # matrix is CPU-bound on two cores, and a second keras-jax worker cost 19 s more CPU than it saved.
    shards: dict[str, int] = field(default_factory=dict)
    replicas: int = 1  # data-parallel replicas each implementation trains over (reference/replicas.py)
    labelled: list[LabelledSpec] = field(init=False)

    def __post_init__(self):
        from nnparity.limits import require_memory

        self.labelled = label_specs(self.specs)
        for ls in self.labelled:  # an impossible size is refused now, not as a MemoryError minutes in
            require_memory(ls.spec, self.steps, ls.given)

    @property
    def labels(self) -> list[str]:
        return [ls.label for ls in self.labelled]

    def applicable(self, spec: S.Spec) -> list[str]:
        """The selected checks that apply to ``spec`` (forward-training and state only where a layer needs them)."""
        from reference.checks import CHECKS

        return [c for c in self.checks if CHECKS[c].applies(spec)]

    @property
    def cells(self) -> int:
        per_spec = sum(len(self.applicable(ls.spec)) for ls in self.labelled)
        return per_spec * len(self.impls) * len(self.dtypes) * len(self.devices)

    def shard_count(self, name: str) -> int:
        return max(1, self.shards.get(name, 1))


def default_selection() -> Selection:
    from nnparity import registry

    return Selection(S.bundled_names(), registry.names(), ["float64", "float32"], ["cpu"], check_names())
