"""The grammar of a declared (confirmatory) contrast, shared by the config, which checks a
study's ``contrasts`` before anything runs, and the report, which estimates them::

    init: kaiming vs random
    reg: l2 vs none within init=random
    task.alpha: 0.01 vs 0.0001 within task.loss=hinge data=42k

(``FACTOR: LEVEL vs BASELINE``, optionally ``within`` one or more ``factor=level``.)
"""

from __future__ import annotations

import re

_SPEC = re.compile(
    r"^\s*(?P<factor>[^:]+?)\s*:\s*(?P<level>\S+)\s+vs\.?\s+(?P<baseline>\S+)"
    r"(?:\s+within\s+(?P<within>.+?))?\s*$"
)


def parse(text: str) -> dict:
    """'reg: l2 vs none within init=random' -> factor, level, baseline, within (dict);
    ValueError (one line, with an example) for anything else."""
    m = _SPEC.match(str(text))
    if not m:
        raise ValueError(
            f"cannot read the declared contrast {text!r}; write 'FACTOR: LEVEL vs BASELINE' "
            "with an optional 'within factor=level ...', e.g. 'reg: l2 vs none within init=random'"
        )
    within = {}
    for part in re.split(r"[\s,]+", m["within"] or ""):
        if part:
            if "=" not in part:
                raise ValueError(f"declared contrast {text!r}: {part!r} is not factor=level")
            f, lv = part.split("=", 1)
            within[f] = lv
    return {"factor": m["factor"], "level": m["level"], "baseline": m["baseline"], "within": within}
