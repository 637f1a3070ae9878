"""Errors a user can fix. The CLI prints their message (one paragraph, no traceback) and exits with 2."""


class UserError(Exception):
    """A mistake in what the user gave us: a spec, a file, an argument, a missing dataset."""


class SpecError(UserError):
    """A spec that does not validate. The message names every bad field by its path."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        listed = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: the spec is not valid:\n{listed}")


class DatasetError(UserError):
    """A dataset that is missing, unreadable or fails its checksum."""


class Unsupported(Exception):
    """An implementation declines a cell: its ``supports(spec)`` gave this reason. Not an error, not a pass."""
