"""PolyakAverage state: a state_dict round trip continues bit for bit; a bad load
names the entry and changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from _support.configs import feed, polyak_trajectory

from optkit.averaging import PolyakAverage

TOL = {np.float32: {"rtol": 1e-6, "atol": 1e-6}, np.float64: {"rtol": 1e-14, "atol": 1e-14}}


# ------------------------------------------------------------------ state
@pytest.mark.parametrize(
    "mode", [{"mode": "window", "window": 4}, {"mode": "tail", "start": 2}, {"mode": "ema"}]
)
def test_state_dict_round_trip_continues_bitwise(cpu_backend, mode):
    iterates = polyak_trajectory(15, np.float32, seed=4)
    params = {k: np.zeros_like(v) for k, v in iterates[0].items()}
    avg = PolyakAverage(params, backend=cpu_backend, **mode)
    feed(avg, params, iterates[:6])
    sd = avg.state_dict()
    assert all(
        isinstance(a, np.ndarray)
        for a in sd["ring" if "window" in mode else "average"].values()
    )
    feed(avg, params, iterates[6:])
    other_params = {k: np.zeros_like(v) for k, v in params.items()}
    other = PolyakAverage(other_params, backend=cpu_backend, **mode)
    other.load_state_dict(sd)
    feed(other, other_params, iterates[6:])
    for key in params:
        np.testing.assert_array_equal(other.average[key], avg.average[key], strict=True)
    assert other.state_dict()["count"] == avg.state_dict()["count"]


def _ring_with(name: str, value):
    def change(sd):
        sd["ring"] = {**sd["ring"], name: value}

    return change


def _ring_nan(sd):
    sd["ring"]["w"] = sd["ring"]["w"].copy()
    sd["ring"]["w"][0, 1] = np.nan


def _entry(name: str, value):
    def change(sd):
        sd[name] = value

    return change


def _drop_ring_b(sd):
    sd["ring"] = {"w": sd["ring"]["w"]}


#: kind -> (change of a window-2 state_dict after 3 updates, error, pattern)
BAD_POLYAK_LOADS = {
    "window": (_entry("window", 3), ValueError, r"^window is 3"),
    "window_float": (_entry("window", 2.0), ValueError, r"^window is 2\.0"),
    "mode": (_entry("mode", "ema"), ValueError, r"^mode is 'ema'"),
    "names": (_entry("names", ["w", "c"]), ValueError, r"^names is \['w', 'c'\]"),
    "ring_shape": (
        _ring_with("w", np.zeros((2, 4))),
        ValueError,
        r"^ring\.w has shape \(2, 4\)",
    ),
    "ring_dtype": (
        _ring_with("b", np.zeros((2, 2))),
        TypeError,
        r"^ring\.b has dtype float64",
    ),
    "ring_missing": (_drop_ring_b, ValueError, r"^ring\.b is missing"),
    "ring_not_array": (_ring_with("w", [[0.0] * 3] * 2), TypeError, r"^ring\.w is a list"),
    "ring_nan": (_ring_nan, ValueError, r"^ring\.w holds NaN"),
    "ring_not_dict": (_entry("ring", 5), TypeError, r"^ring is int"),
    "ring_unknown": (_ring_with("z", np.zeros((2, 3))), ValueError, "unknown parameters"),
    "count_negative": (_entry("count", -1), ValueError, r"^count is -1"),
    "count_text": (_entry("count", "2"), TypeError, r"^count is '2'"),
    "count_float": (_entry("count", 2.0), TypeError, r"^count is 2\.0"),
    "count_above_updates": (_entry("updates", 1), ValueError, r"^count is 2: more than"),
    "position_outside": (_entry("position", 2), ValueError, r"position=2"),
    "last_step_negative": (_entry("last_step", -1), ValueError, r"^last_step is -1"),
    "last_step_float": (_entry("last_step", 1.5), TypeError, r"^last_step is 1\.5"),
    "unknown_entry": (_entry("extra", 0), ValueError, "unknown entries"),
    "format": (_entry("format", "optkit.polyak/0"), ValueError, "format"),
}


def _polyak_snapshot(avg: PolyakAverage) -> dict:
    sd = avg.state_dict()
    return {
        **{k: v for k, v in sd.items() if k != "ring"},
        "ring": {k: v.copy() for k, v in sd["ring"].items()},
        "average": {k: v.copy() for k, v in avg.average.items()},
    }


def _assert_same_snapshot(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if k in ("ring", "average"):
            for name in a[k]:
                np.testing.assert_array_equal(a[k][name], b[k][name], strict=True)
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize("kind", list(BAD_POLYAK_LOADS))
def test_bad_load_names_the_entry_and_changes_nothing(kind):
    change, error, pattern = BAD_POLYAK_LOADS[kind]
    p = {"w": np.zeros(3), "b": np.zeros(2, np.float32)}
    twin_p = {k: v.copy() for k, v in p.items()}
    avg = PolyakAverage(p, "window", window=2)
    twin = PolyakAverage(twin_p, "window", window=2)
    for value in (1.0, 2.0, 4.0):
        for params, average in ((p, avg), (twin_p, twin)):
            for a in params.values():
                a[...] = value
            average.update()
    sd = avg.state_dict()
    sd["ring"] = dict(sd["ring"])
    change(sd)
    before = _polyak_snapshot(avg)
    with pytest.raises(error, match=pattern):
        avg.load_state_dict(sd)
    _assert_same_snapshot(before, _polyak_snapshot(avg))
    for params in (p, twin_p):  # and it goes on as the twin that never saw it
        for a in params.values():
            a[...] = 8.0
    avg.update()
    twin.update()
    _assert_same_snapshot(_polyak_snapshot(twin), _polyak_snapshot(avg))


def test_load_rejects_a_non_state_dict():
    avg = PolyakAverage(np.zeros(2), "ema")
    with pytest.raises(ValueError, match="format"):
        avg.load_state_dict({"mode": "window"})
    with pytest.raises(ValueError, match="format"):
        avg.load_state_dict([1, 2])
