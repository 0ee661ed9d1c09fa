"""CEL tool rules (`spec.tools.rules[].when`): compiled and type-checked at admission with the declarations
mcpop-bridge evaluates them with (tools/bridge-src/rules.go): `claims`, the caller's token claims as
`map(string, dyn)`, and `tool`, the tool's name (string); the result must be a bool.

cel-expr-python is Google's CEL (cel-cpp) for Python, the same language and type checker as the bridge's cel-go;
tests/fixtures/cel-rules.json pins that both accept and refuse the same expressions. It is imported on first use:
most specs have no rules and the CLI's start-up must not pay for it.
"""

from __future__ import annotations

import functools
from typing import Any

#: the longest expression a rule takes (the bridge's maxRuleLength)
MAX_RULE_LENGTH = 1024
#: how many rules one server takes (the bridge's maxRules)
MAX_RULES = 16


@functools.cache
def _env() -> Any:
    from cel_expr_python import cel

    return cel.NewEnv(variables={"claims": cel.Type.Map(cel.Type.STRING, cel.Type.DYN), "tool": cel.Type.STRING})


def rule_error(expression: str) -> str | None:
    """Why `expression` is not a rule the bridge can evaluate (CEL's own message, with the position), or None."""
    from cel_expr_python import cel

    try:
        compiled = _env().compile(expression)
    except RuntimeError as exc:
        # "INVALID_ARGUMENT: ERROR: <input>:1:6: found no matching overload ...\n | tool == 1\n | .....^"
        first = str(exc).strip().removeprefix("INVALID_ARGUMENT: ").removeprefix("ERROR: ").splitlines()[0]
        return first.replace("<input>:", "at ", 1)
    kind = compiled.return_type()
    if kind != cel.Type.BOOL:
        return f"the expression is a {kind.name().lower()}, not a bool"
    return None
