r"""``Sequential``: layers in a chain, one FlatParams, explicit forward and backward.

The model owns where its parameters live (see :mod:`optkit.nn._binding`): every
trainable parameter is a view of one :class:`~optkit.FlatParams` (one buffer per
dtype, so an optimizer step is one kernel call per dtype), named as in torch's
``state_dict`` (``"0.weight"``, ``"2.bias"``); gradients are views of a second
FlatParams of the same layout, overwritten by each backward.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from optkit.nn import _binding
from optkit.nn._layer import to_host
from optkit.params import FlatParams, check_saved

__all__ = ["Sequential"]

_REQUIRED = ("forward", "backward", "parameters", "train", "state_dict", "load_state_dict")


def _check_layer(name: str, layer: Any) -> None:
    missing = [m for m in _REQUIRED if not callable(getattr(layer, m, None))]
    if missing:
        raise TypeError(
            f"layer {name!r} ({type(layer).__name__}) lacks {missing}: a layer needs "
            f"{', '.join(_REQUIRED)} (and bind when it has parameters)"
        )
    if layer.parameters() and not callable(getattr(layer, "bind", None)):
        raise TypeError(f"layer {name!r} has parameters but no bind()")


def _features_out(name: str, layer: Any, features: int | None) -> int | None:
    """Check a layer's input width against the previous one; its output width."""
    from optkit.nn.batch_norm import BatchNorm
    from optkit.nn.layers import Dropout, Linear, _Activation

    if isinstance(layer, Linear):
        width_in, width_out = layer.in_features, layer.out_features
    elif isinstance(layer, BatchNorm) and layer.axis in (1, -1):
        width_in = width_out = layer.num_features
    elif isinstance(layer, (_Activation, Dropout)):
        return features
    else:
        return None  # a layer we cannot see into
    if features is not None and features != width_in:
        raise ValueError(
            f"layer {name!r} ({layer!r}) takes {width_in} features but the layer "
            f"before it gives {features}"
        )
    return width_out


class Sequential:
    r"""A chain of layers with explicit forward and backward passes.

    Parameters
    ----------
    *layers : layer objects, or one mapping ``{name: layer}``
        Named ``"0"``, ``"1"``, ... unless a mapping gives names (no dots). Any
        object with the layer protocol (``docs/nn.md``) fits: optkit's layers,
        :class:`~optkit.nn.BatchNorm`, a user's own. A layer belongs to one model
        at a time: building a model from another model's layers moves them (their
        current values are kept) and retires the old model.

    Notes
    -----
    ``loss_and_grad`` runs ``forward``, the loss and its gradient, then the layers'
    backward in reverse order, stopping at the first layer with a trainable
    parameter (the input's gradient is computed only on request). Frozen
    parameters (:meth:`freeze`) live outside :meth:`parameters`: no gradient is
    computed for them and no optimizer can move them. Freezing or unfreezing
    changes :meth:`parameters` — create the optimizer afterwards (an optimizer
    created before fails on its next step).

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> from optkit.nn import Linear, ReLU, Sequential
    >>> model = Sequential(Linear(4, 8, seed=0), ReLU(), Linear(8, 3, seed=1))
    >>> list(model.parameters().keys())
    ['0.weight', '0.bias', '2.weight', '2.bias']
    >>> opt = ok.SGD(model.parameters(), lr=0.1)
    >>> x, y = np.ones((5, 4), np.float32), np.array([0, 1, 2, 0, 1])
    >>> loss, grads = model.loss_and_grad(ok.nn.cross_entropy, x, y)
    >>> opt.step(grads)
    True
    >>> model(x).shape
    (5, 3)
    """

    def __init__(self, *layers: Any):
        if len(layers) == 1 and isinstance(layers[0], Mapping):
            named = dict(layers[0])
        else:
            named = {str(i): layer for i, layer in enumerate(layers)}
        if not named:
            raise ValueError("Sequential needs at least one layer")
        features = None
        for name, layer in named.items():
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"layer name {name!r} must be a non-empty str without '.'")
            _check_layer(name, layer)
            features = _features_out(name, layer, features)
        if len({id(layer) for layer in named.values()}) != len(named):
            raise ValueError("the same layer object appears twice in the model")
        self._layers = named
        self.training = True
        self._frozen: frozenset[str] = frozenset()
        self._retired = False
        self._homes = _binding.rehome(named, self._frozen, None)
        for layer in named.values():
            previous = getattr(layer, "_optkit_model", lambda: None)()
            if previous is not None:
                previous._retire()
            layer._optkit_model = weakref.ref(self)
        self.train()

    # ------------------------------------------------------------------ structure
    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers.values())

    def __getitem__(self, key: int | str) -> Any:
        """A layer by position or by name."""
        if isinstance(key, str):
            return self._layers[key]
        return list(self._layers.values())[key]

    @property
    def layers(self) -> dict[str, Any]:
        """``{name: layer}`` in order (a copy of the mapping)."""
        return dict(self._layers)

    def _retire(self) -> None:
        """Another model took this model's layers: refuse further use."""
        if self._homes.params is not None:
            _binding._retire(self._homes.params)
        self._retired = True

    def _check_usable(self) -> None:
        if self._retired:
            raise RuntimeError(
                "this Sequential's layers now belong to another model; use that one"
            )

    # ------------------------------------------------------------------ parameters
    def parameters(self) -> FlatParams:
        """The trainable parameters: one FlatParams (views named ``"0.weight"``, ...).

        The same object until :meth:`freeze`/:meth:`unfreeze` changes it.
        """
        self._check_usable()
        if self._homes.params is None:
            raise ValueError("every parameter of this model is frozen; unfreeze some")
        return self._homes.params

    @property
    def grads(self) -> FlatParams:
        """The gradient FlatParams (layout of :meth:`parameters`), written by backward."""
        self.parameters()
        return self._homes.grads

    def named_parameters(self) -> dict[str, Any]:
        """Every parameter view by name, frozen ones included, in layer order."""
        out = {}
        for lname, layer in self._layers.items():
            out.update(layer.parameters(f"{lname}."))
        return out

    def buffers(self) -> dict[str, Any]:
        """Non-trainable state by name (``"1.running_mean"``, ...), live arrays."""
        out = {}
        for lname, layer in self._layers.items():
            prefix = f"{lname}."
            if callable(getattr(layer, "buffers", None)):
                out.update(layer.buffers(prefix))
                continue
            params = layer.parameters()
            for key in layer.state_dict():
                if key not in params:
                    out[prefix + key] = getattr(layer, key)
        return out

    @property
    def frozen(self) -> list[str]:
        """Names of the frozen parameters."""
        return [n for n in self.named_parameters() if n in self._frozen]

    def _select(self, prefix: str) -> list[str]:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        names = list(self.named_parameters())
        chosen = _binding.matching(names, prefix)
        if not chosen:
            raise ValueError(
                f"no parameter matches prefix {prefix!r}; parameters are {names}"
            )
        return chosen

    def freeze(self, prefix: str = "") -> Sequential:
        """Freeze the parameters named ``prefix`` or below it (``"0"``, ``"0.weight"``;
        ``""``: all). They keep their values, get no gradient, and leave
        :meth:`parameters`; create the optimizer after freezing."""
        self._check_usable()
        return self._set_frozen(self._frozen | set(self._select(prefix)))

    def unfreeze(self, prefix: str = "") -> Sequential:
        """Make the parameters named ``prefix`` or below it trainable again."""
        self._check_usable()
        return self._set_frozen(self._frozen - set(self._select(prefix)))

    def _set_frozen(self, frozen: set[str]) -> Sequential:
        frozen = frozenset(frozen)
        if frozen != self._frozen:
            self._homes = _binding.rehome(self._layers, frozen, self._homes)
            self._frozen = frozen
        return self

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Sequential:
        """Set every layer's mode (BatchNorm statistics, Dropout)."""
        self.training = bool(mode)
        for layer in self._layers.values():
            layer.train(self.training)
        return self

    def eval(self) -> Sequential:
        """Evaluation mode for every layer."""
        return self.train(False)

    # ------------------------------------------------------------------ compute
    def forward(self, x: Any) -> Any:
        """Run every layer in its current mode (training mode updates BatchNorm's
        running statistics, as torch does; :meth:`predict` never does)."""
        self._check_usable()
        first = next(iter(self._layers.values()))
        if callable(getattr(first, "check_input", None)):
            first.check_input(x)
        for name, layer in self._layers.items():
            try:
                x = layer.forward(x)
            except (ValueError, TypeError) as exc:
                if type(exc) not in (ValueError, TypeError):
                    raise
                raise type(exc)(f"layer {name!r}: {exc}") from exc
        return x

    __call__ = forward

    def backward(self, dy: Any, *, input_grad: bool = False) -> Any:
        """Backward through the layers; gradients land in :attr:`grads`.

        Returns the input's gradient with ``input_grad=True``, else ``None`` (and
        stops at the first layer with a trainable parameter).
        """
        self._check_usable()
        items = list(self._layers.items())
        stop = 0 if input_grad else self._homes.first_trainable
        for index in range(len(items) - 1, stop - 1, -1):
            layer = items[index][1]
            if index == stop and not input_grad and _skips_input_grad(layer):
                layer.backward(dy, input_grad=False)
                return None
            dy = layer.backward(dy)
        return dy if input_grad else None

    def loss_and_grad(
        self,
        loss: Callable[..., Any],
        x: Any,
        target: Any,
        *,
        return_output: bool = False,
    ) -> tuple:
        """``(loss, grads)``: forward, ``loss(output, target, grad=True)``, backward.

        ``grads`` is :attr:`grads` (the same FlatParams each call, overwritten);
        with ``return_output=True`` the output is returned third. The model's
        current mode is used (call :meth:`train` first for training).
        """
        self.parameters()  # raises when everything is frozen
        out = self.forward(x)
        value, dout = loss(out, target, grad=True)
        self.backward(dout)
        if return_output:
            return value, self._homes.grads, out
        return value, self._homes.grads

    def predict(self, x: Any, batch_size: int | None = None) -> Any:
        """Eval-mode output for ``x`` (in batches), leaving every layer's mode as it was."""
        self._check_usable()
        modes = [(layer, layer.training) for layer in self._layers.values()]
        try:
            for layer, _ in modes:
                layer.train(False)
            n = int(x.shape[0])
            step = n if batch_size is None else max(1, int(batch_size))
            parts = [self.forward(x[i : i + step, ...]) for i in range(0, n, step)]
        finally:
            for layer, mode in modes:
                layer.train(mode)
        if len(parts) == 1:
            return parts[0]
        from optkit._host import namespace

        return namespace(parts[0]).concat(parts, axis=0)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Host NumPy copies with torch's keys and layouts (parameters, then buffers,
        layer by layer)."""
        out = {}
        for lname, layer in self._layers.items():
            out.update({f"{lname}.{k}": v for k, v in layer.state_dict().items()})
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True):
        """Load torch-keyed arrays (NumPy, or anything convertible) in place.

        Everything is checked first (keys when ``strict``, shapes, dtypes); nothing
        is written unless all of it fits. Returns ``(missing, unexpected)`` keys.
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        values = dict(own)
        for key in own:
            if key in state_dict:
                values[key] = np.asarray(to_host(state_dict[key]))
                check_saved(f"state_dict[{key!r}]", values[key], own[key])
        for lname, layer in self._layers.items():
            prefix = f"{lname}."
            local = {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}
            if local:
                layer.load_state_dict(local)
        return missing, unexpected

    def rng_state(self) -> dict[str, Any]:
        """The random generators' states of layers that draw (Dropout), by name."""
        return {
            name: layer.rng.bit_generator.state
            for name, layer in self._layers.items()
            if isinstance(getattr(layer, "rng", None), np.random.Generator)
        }

    def set_rng_state(self, states: Mapping[str, Any]) -> None:
        """Restore :meth:`rng_state` output."""
        own = self.rng_state()
        if set(states) != set(own):
            raise KeyError(f"rng states for {sorted(states)}, model has {sorted(own)}")
        for name, state in states.items():
            self._layers[name].rng.bit_generator.state = state

    def __repr__(self) -> str:
        lines = [f"  ({name}): {layer!r}" for name, layer in self._layers.items()]
        return "Sequential(\n" + "\n".join(lines) + "\n)"


def _skips_input_grad(layer: Any) -> bool:
    from optkit.nn.layers import Linear

    return isinstance(layer, Linear)
