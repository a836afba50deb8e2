"""The generated package stays thin glue a data scientist reads in an afternoon (issue 9's budget):
at most 1,800 rendered lines in all and no module over 400, for every supported combination."""

from __future__ import annotations

import pytest

from combinations import SUPPORTED
from helpers import bake

TOTAL, PER_MODULE = 1800, 400


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_generated_package_within_the_line_budget(tmp_path, name):
    project = bake(tmp_path, **SUPPORTED[name])
    modules = sorted((project / "src").glob("*/*.py"))
    lines = {path.name: len(path.read_text().splitlines()) for path in modules}
    assert {"drift.py", "serve.py", "compare.py", "cli.py"} <= set(lines), lines
    assert sum(lines.values()) <= TOTAL, lines
    assert max(lines.values()) <= PER_MODULE, lines
