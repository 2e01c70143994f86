"""The pip patch is a table: every row matches the pip under test, and every wrapper takes
pip's own parameter names (pip calls several of these methods with keyword arguments)."""

from __future__ import annotations

import json

CHECK = """
import inspect, json
from ltt_hook import pip_patch
rows = []
for row in pip_patch.PATCHES:
    try:
        owner, original = pip_patch._target(row)
    except (LookupError, ImportError) as exc:
        rows.append([row.name, row.required, None, None, str(exc)])
        continue
    wrapper = [n for n, p in inspect.signature(row.wrapper).parameters.items()
               if p.kind is p.POSITIONAL_OR_KEYWORD]
    pip = list(inspect.signature(original).parameters)
    rows.append([row.name, row.required, pip, wrapper, None])
print(json.dumps(rows))
"""


def test_every_required_row_matches_this_pip_and_its_wrapper(hook_venv):
    result = hook_venv.run(hook_venv.python, "-c", CHECK)
    assert result.returncode == 0, result.output
    for name, required, pip_params, wrapper_params, problem in json.loads(result.stdout):
        if problem is not None:
            assert not required, f"{name}: {problem}"
            continue
        assert wrapper_params[:2] == ["process", "original"], name
        # The wrapper's parameters after ``original`` are pip's, by name, as far as pip names them.
        named = wrapper_params[2:]
        assert named == pip_params[: len(named)], (name, wrapper_params, pip_params)
