"""The shapes of the fast path's tables (mcpop.cli.fastspec): a command's flags and positionals as plain data."""

from __future__ import annotations

from typing import NamedTuple


class Option(NamedTuple):
    """One flag or positional of a fast command."""

    names: tuple[str, ...]  # empty for a positional
    dest: str
    kind: str  # flag | value | append
    convert: str  # str | path | int
    choices: tuple[str, ...] = ()
    leading_hyphen: bool = False


class Spec(NamedTuple):
    """A fast command: the function it runs (`module:name`), its flags, positionals and required arguments."""

    target: str
    options: tuple[Option, ...]
    positional: tuple[Option, ...]
    required: tuple[str, ...]
