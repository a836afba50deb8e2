"""Code the template's tests and benchmarks share: bake and run a project, find a Python, build
and run its image with podman.

A package at the repository root, imported from the checkout it sits in: pytest puts the root on
``sys.path`` (``pythonpath`` in pyproject.toml) and the benchmarks run as modules from the root
(``python -m benchmarks.bench_serve``: Python puts the current directory first on ``sys.path``).
It is not installed on purpose: an installed copy, even an editable one, would make every
checkout that shares a virtualenv bake the one template directory it was installed from.
"""
