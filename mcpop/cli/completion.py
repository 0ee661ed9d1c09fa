"""Shell completion (cyclopts' generator): `mcp completion bash|zsh|fish` prints the script,
`mcp --install-completion` installs it for the current shell. Loaded only when asked for."""

from __future__ import annotations

import sys
from typing import Annotated, Literal

from cyclopts import Parameter

Shell = Literal["bash", "zsh", "fish"]


def completion(shell: Shell, /) -> int:
    """Print the shell completion script (`source <(mcp completion bash)`).

    Parameters
    ----------
    shell
        The shell to complete for.
    """
    from mcpop.cli.main import app

    sys.stdout.write(app.generate_completion(shell=shell))
    return 0


def install_completion(
    *,
    shell: Annotated[Shell | None, Parameter(name="--shell", help="Default: the current shell.")] = None,
) -> int:
    """Install shell completion for `mcp` and load it from the shell's startup file."""
    from mcpop.cli.main import app

    path = app.install_completion(shell=shell, add_to_startup=True)
    print(f"completion installed: {path}")
    return 0
