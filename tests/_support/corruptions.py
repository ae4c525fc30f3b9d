"""Corruptions of saved state used by several test files: optimizer state dicts
(each with the error it must raise and a pattern naming the culprit), garbage values
for every entry, and damaged checkpoint files."""

from __future__ import annotations

import copy
import json

import numpy as np


# --------------------------------------------------------------------------- state dicts
def _set(path: tuple, value):
    """A corruption that sets ``sd[path[0]][path[1]]... = value``."""

    def corrupt(sd):
        target = sd
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return corrupt


def _nan_in_state(sd):
    sd["state"]["w"]["m"][0, 0] = np.nan


def _rename_state(sd):
    sd["state"]["zz"] = sd["state"].pop("b")


def _drop_state(sd):
    del sd["state"]["b"]["v"]


def _add_group(sd):
    sd["param_groups"].append(dict(sd["param_groups"][0]))


def _as_float32(sd):
    sd["state"]["b"]["v"] = sd["state"]["b"]["v"].astype(np.float32)


G0 = r"param_groups\[0\]"

#: kind -> (corruption of an Adam state_dict, error type, pattern naming the culprit)
BAD_LOADS = {
    "unknown_parameter": (_rename_state, ValueError, "zz"),
    "group_names": (_set(("param_groups", 0, "names"), ["w", "q"]), ValueError, "q"),
    "group_count": (_add_group, ValueError, "2 parameter groups"),
    "shape": (_set(("state", "b", "v"), np.zeros(5)), ValueError, r"state\.b\.v.*\(5,\)"),
    "dtype": (_as_float32, TypeError, r"state\.b\.v.*float32"),
    "optimizer_type": (_set(("optimizer",), "SGD"), ValueError, "SGD"),
    "invalid_hyperparameter": (
        _set(("param_groups", 0, "lr"), -1.0),
        ValueError,
        r"lr=-1\.0",
    ),
    "missing_state_entry": (_drop_state, ValueError, r"state\.b.*'v'"),
    "format": (_set(("format",), "optkit.optimizer/9"), ValueError, "format"),
    "unknown_entry": (_set(("extra",), 1), ValueError, "extra"),
    "step_negative": (_set(("step",), -2), ValueError, r"^step is -2"),
    "step_not_integer": (_set(("step",), 2.5), TypeError, r"^step is 2\.5"),
    "step_bool": (_set(("step",), True), TypeError, r"^step is True"),
    "skipped_not_numeric": (_set(("skipped_steps",), "3"), TypeError, "^skipped_steps"),
    "skipped_negative": (_set(("skipped_steps",), -1), ValueError, "^skipped_steps"),
    "lr_nan": (_set(("param_groups", 0, "lr"), np.nan), ValueError, rf"{G0}\.lr.*nan"),
    "lr_inf": (_set(("param_groups", 0, "lr"), np.inf), ValueError, rf"{G0}\.lr.*inf"),
    "lr_text": (_set(("param_groups", 0, "lr"), "0.1"), TypeError, rf"{G0}\.lr"),
    "lr_schedule_state": (
        _set(("param_groups", 0, "lr"), {"value": 0.1}),
        TypeError,
        rf"{G0}\.lr.*not a schedule",
    ),
    "betas_length": (
        _set(("param_groups", 0, "betas"), (0.9,)),
        ValueError,
        rf"{G0}\.betas",
    ),
    "betas_nan": (
        _set(("param_groups", 0, "betas"), (np.nan, 0.99)),
        ValueError,
        rf"{G0}\.betas\[0\].*nan",
    ),
    "betas_one": (
        _set(("param_groups", 0, "betas"), (1.0, 0.99)),
        ValueError,
        rf"{G0}\.betas.*betas\[0\]=1\.0",
    ),
    "array_lr_not_broadcastable": (
        _set(("param_groups", 0, "lr"), np.full((5, 1), 0.1)),
        ValueError,
        rf"{G0}\.lr.*\(5, 1\).*'w'",
    ),
    "flag_not_bool": (
        _set(("param_groups", 0, "amsgrad"), "yes"),
        TypeError,
        rf"{G0}\.amsgrad",
    ),
    "unknown_hyperparameter": (
        _set(("param_groups", 0, "momentum"), 0.9),
        ValueError,
        rf"{G0}.*momentum",
    ),
    "group_not_a_dict": (_set(("param_groups", 0), 5), TypeError, rf"{G0} is a int"),
    "state_not_a_dict": (_set(("state", "w"), 5), TypeError, r"state\.w is a int"),
    "state_not_an_array": (
        _set(("state", "w", "m"), [[0.0] * 4] * 3),
        TypeError,
        r"state\.w\.m",
    ),
    "state_nan": (_nan_in_state, ValueError, r"state\.w\.m holds NaN"),
    "group_state_length": (_set(("group_state",), []), ValueError, "group_state"),
    "group_state_unknown": (
        _set(("group_state", 0), {"foo": 1.0}),
        ValueError,
        r"group_state\[0\].*foo",
    ),
    "group_step_negative": (
        _set(("group_state", 0), {"step": -1}),
        ValueError,
        r"group_state\[0\]\.step is -1",
    ),
    "group_step_ahead": (
        _set(("group_state", 0), {"step": 99}),
        ValueError,
        r"group_state\[0\]\.step is 99.*step 3",
    ),
    "group_step_not_integer": (
        _set(("group_state", 0), {"step": 1.5}),
        TypeError,
        r"group_state\[0\]\.step",
    ),
}


def _drop_mu(sd):
    del sd["group_state"][0]["mu_product"]


NADAM_BAD_GROUP_STATE = {
    "missing": (_drop_mu, ValueError, r"group_state\[0\]\.mu_product is missing"),
    "nan": (
        _set(("group_state", 0, "mu_product"), np.nan),
        ValueError,
        r"group_state\[0\]\.mu_product.*finite",
    ),
    "above_one": (
        _set(("group_state", 0, "mu_product"), 1.5),
        ValueError,
        r"group_state\[0\]\.mu_product.*\[0, 1\]",
    ),
    "text": (
        _set(("group_state", 0, "mu_product"), "0.5"),
        TypeError,
        r"group_state\[0\]\.mu_product",
    ),
    "flag": (
        _set(("group_state", 0, "mu_product"), True),
        TypeError,
        r"group_state\[0\]\.mu_product",
    ),
    "array_not_broadcastable": (
        _set(("group_state", 0, "mu_product"), np.full((5, 1), 0.5)),
        ValueError,
        r"group_state\[0\]\.mu_product.*\(5, 1\)",
    ),
}


GARBAGE = [None, "x", -1, 2.5, np.nan, True, [], {}, np.array(["a"]), np.zeros((2, 2))]
GARBAGE += [object(), {"value": -1.0}]


def nodes(tree, prefix=()):
    """Every key path of a nested dict/list (tuples are leaves)."""
    yield prefix
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from nodes(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from nodes(v, (*prefix, i))


def replaced(tree, path, value):
    tree = copy.deepcopy(tree)
    target = tree
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return tree


# --------------------------------------------------------------------------- checkpoint files
def _rewrite_meta(path, change) -> None:
    with np.load(path) as z:
        entries = dict(z)
    raw = change(entries["__optkit__"].tobytes())
    entries["__optkit__"] = np.frombuffer(raw, np.uint8)
    np.savez(path, **entries)


def _json_change(fn):
    def change(raw: bytes) -> bytes:
        meta = json.loads(raw)
        fn(meta)
        return json.dumps(meta).encode()

    return change


DAMAGES = {
    "empty": (lambda p: p.write_bytes(b""), "damaged|not an optkit"),
    "truncated": (
        lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
        "damaged",
    ),
    "crc": (lambda p: _flip(p, 200), r"damaged \(BadZipFile: Bad CRC"),
    "bad_json": (
        lambda p: _rewrite_meta(p, lambda raw: raw[:-5]),
        "description is damaged",
    ),
    "not_utf8": (lambda p: _rewrite_meta(p, lambda raw: b"\xff" + raw), "description"),
    "no_tree": (
        lambda p: _rewrite_meta(p, _json_change(lambda m: m.pop("tree"))),
        "'tree'",
    ),
    "bad_table": (
        lambda p: _rewrite_meta(p, _json_change(lambda m: m["arrays"].update(a0=5))),
        "damaged",
    ),
    "bad_tuple": (
        lambda p: _rewrite_meta(
            p, _json_change(lambda m: m["tree"].update(w={"__tuple__": 5}))
        ),
        r"damaged \(TypeError",
    ),
    "dangling": (
        lambda p: _rewrite_meta(
            p, _json_change(lambda m: m["tree"].update(w={"__ndarray__": "a99"}))
        ),
        "undescribed entry 'a99'",
    ),
}


def _flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
