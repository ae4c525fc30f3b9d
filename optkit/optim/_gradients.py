"""Aligning the gradients a user passes with the optimizer's parameter groups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from optkit.params import FlatParams, ParamTree, check_grad

__all__ = ["match_gradients"]


def match_gradients(trees: list[ParamTree], grouped: bool, grads: Any) -> list[list[Any]]:
    """Gradients aligned with every group's arrays; all checks before any write."""
    if len(trees) == 1 and not grouped:
        per_group = [trees[0].match(grads)]
    elif isinstance(grads, Mapping) and not isinstance(grads, FlatParams):
        names = [n for t in trees for n in t.names]
        missing = [n for n in names if n not in grads]
        extra = [k for k in grads if k not in set(names)]
        if missing or extra:
            raise ValueError(
                f"gradients do not match parameters: missing {missing}, unexpected {extra}"
            )
        per_group = [[grads[n] for n in t.names] for t in trees]
    else:
        per_group = _match_sequence(trees, grads)
    for tree, gs in zip(trees, per_group):
        for name, p, g in zip(tree.names, tree.arrays, gs):
            check_grad(name, p, g)
    return per_group


def _match_sequence(trees: list[ParamTree], grads: Any) -> list[list[Any]]:
    """One list per group, or one flat list of arrays in parameter order."""
    sizes = [len(t.arrays) for t in trees]
    if isinstance(grads, Sequence) and not isinstance(grads, str):
        if len(grads) == len(trees) and all(
            isinstance(g, (Sequence, Mapping, FlatParams)) or t.kind == "array"
            for g, t in zip(grads, trees)
        ):
            return [t.match(g) for t, g in zip(trees, grads)]
        flat_ok = all(t.kind != "flat" for t in trees)
        if flat_ok and len(grads) == sum(sizes) and all(hasattr(g, "shape") for g in grads):
            out, start = [], 0
            for size in sizes:
                out.append(list(grads[start : start + size]))
                start += size
            return out
    shape = ", ".join(f"[{n} array(s)]" for n in sizes)
    raise ValueError(
        f"with {len(trees)} parameter groups, gradients must be a list of "
        f"{len(trees)} (one per group: [{shape}]), one flat list of {sum(sizes)} "
        f"arrays in parameter order, or a dict by name; got {type(grads).__name__}"
        + (f" of length {len(grads)}" if hasattr(grads, "__len__") else "")
    )
