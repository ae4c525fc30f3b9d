"""Doctests of optional subpackages are skipped when their dependency is missing."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("torch") else ["optkit/torch/*"]
