"""``fit``: the training loop — batches, steps, evaluation, schedules, checkpoints.

Reached as ``optkit.fit``. The loop is what one would write by hand around
:meth:`~optkit.nn.Sequential.loss_and_grad` and ``optimizer.step``, plus the
bookkeeping that makes runs comparable and resumable: a seeded batch order, a
:class:`~optkit.nn.History` row per epoch, a progress bar, ``ReduceOnPlateau``
driven by the validation loss, Polyak averages evaluated beside the last iterate,
and checkpoints from which a run continues bit for bit.
"""

from __future__ import annotations

import math
import numbers
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from optkit.nn._fit_support import (
    EpochClock,
    batches,
    check_optimizer,
    evaluate,
    first_lr,
    plateaus,
    progress_bar,
    split_xy,
    take,
    use_epoch_clock,
)
from optkit.nn.history import History
from optkit.nn.losses import accuracy as accuracy_of
from optkit.nn.losses import cross_entropy

__all__ = ["batches", "fit"]

_SCHEDULE_ON = ("step", "epoch")


def _check_count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(value)


def _clipper(clip: Any, track: bool) -> Callable[[Any], float]:
    """grads -> global norm before clipping (NaN when neither clipping nor tracking)."""
    from optkit.clipping import clip_by_global_norm

    if clip is None:
        if not track:
            return lambda grads: math.nan
        return lambda grads: float(clip_by_global_norm(grads, math.inf))
    if callable(clip):

        def custom(grads):
            norm = float(clip_by_global_norm(grads, math.inf)) if track else math.nan
            clip(grads)
            return norm

        return custom
    if isinstance(clip, bool) or not isinstance(clip, numbers.Real) or not clip > 0:
        raise ValueError(
            f"clip={clip!r}: expected a max global norm > 0 or a function of the gradients"
        )
    return lambda grads: float(clip_by_global_norm(grads, float(clip)))


def fit(
    model: Any,
    optimizer: Any,
    data: Any,
    epochs: int,
    batch_size: int = 32,
    *,
    loss: Callable[..., Any] = cross_entropy,
    validation: Any = None,
    schedule_on: str = "step",
    average: Any = None,
    clip: Any = None,
    callbacks: Sequence[Callable[..., Any]] = (),
    progress: bool = True,
    checkpoint_every: int | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool | str | os.PathLike = False,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
    accuracy: bool | None = None,
    grad_norm: bool = True,
    eval_batch_size: int = 4096,
) -> History:
    r"""Train ``model`` with ``optimizer`` on ``data`` for ``epochs`` epochs.

    Parameters
    ----------
    model : Sequential
        Put in training mode for the steps and eval mode for evaluation.
    optimizer : Optimizer
        Created on ``model.parameters()`` (after any ``freeze``).
    data : (x, y) pair, or an object with ``.x`` and ``.y`` (a dataset split)
    epochs : int
        Total epochs; a resumed run continues up to this number.
    batch_size : int, default 32
    loss : function, default :func:`~optkit.nn.cross_entropy`
        ``loss(output, target, grad=False)`` (see :mod:`optkit.nn.losses`).
    validation : (x, y) pair or split, optional
        Evaluated in eval mode after every epoch.
    schedule_on : {"step", "epoch"}
        What the ``t`` of the optimizer's schedules counts: applied steps (the
        optimizers' own clock), or completed epochs (each schedule is read at the
        epoch count during this call). Any ``ReduceOnPlateau`` among the
        hyperparameters observes the validation loss after each epoch (the
        training loss without ``validation``).
    average : PolyakAverage, optional
        Built on ``model.parameters()`` with ``optimizer=optimizer``; updated after
        each step, and its parameters are evaluated on ``validation`` too
        (``avg_val_loss``). BatchNorm statistics are the last iterate's.
    clip : float or function, optional
        A float clips the global gradient norm to it (:func:`optkit.clip_by_global_norm`);
        a function ``clip(grads)`` clips in place.
    callbacks : sequence of functions
        ``callback(history, model, optimizer)`` after each epoch; returning True
        stops training (see :class:`~optkit.nn.callbacks.EarlyStopping`).
    progress : bool, default True
        A tqdm bar over epochs × batches with the live loss; shown only on a
        terminal (and when tqdm is installed).
    checkpoint_every, checkpoint_path : int and path, optional
        Save a checkpoint every k epochs (and after the last): model, optimizer,
        average, epoch, history and every random state.
    resume : bool or path
        ``True`` continues from ``checkpoint_path``; a path continues from it.
    seed : int
        Seeds the batch order: epoch e uses the e-th ``permutation`` of
        ``numpy.random.default_rng(seed)`` (see :func:`batches`).
    shuffle, drop_last : bool
        Shuffle each epoch; drop a last, smaller batch.
    accuracy : bool, optional
        Record accuracy; default: when the targets are integer class indices.
    grad_norm : bool, default True
        Record the mean global gradient norm (one extra read of the gradients).
    eval_batch_size : int
        Batch size of the evaluation passes.

    Returns
    -------
    History

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((200, 2)).astype(np.float32)
    >>> y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)          # XOR of the signs
    >>> model = ok.nn.mlp([2, 32, 2], seed=0)
    >>> opt = ok.Adam(model.parameters(), lr=0.02)
    >>> history = ok.fit(model, opt, (x, y), epochs=30, batch_size=20, progress=False)
    >>> bool(history["train_accuracy"][-1] > 0.9), len(history)
    (True, 30)
    """
    epochs = _check_count("epochs", epochs, 0)
    batch_size = _check_count("batch_size", batch_size, 1)
    eval_batch_size = _check_count("eval_batch_size", eval_batch_size, 1)
    if schedule_on not in _SCHEDULE_ON:
        raise ValueError(f"schedule_on={schedule_on!r}: expected 'step' or 'epoch'")
    if checkpoint_every is not None:
        checkpoint_every = _check_count("checkpoint_every", checkpoint_every, 1)
        if checkpoint_path is None:
            raise ValueError("checkpoint_every needs checkpoint_path")
    x, y = split_xy("data", data)
    val = split_xy("validation", validation) if validation is not None else None
    check_optimizer(model, optimizer)
    track_accuracy = accuracy if accuracy is not None else _integer(y)
    run = _Run(model, optimizer, loss, average, _clipper(clip, grad_norm), track_accuracy)
    run.eval_batch_size = eval_batch_size
    rng = np.random.default_rng(seed)
    history, start = History(), 0
    if resume:
        path = checkpoint_path if resume is True else resume
        if path is None:
            raise ValueError("resume=True needs checkpoint_path")
        history, start = _restore(path, model, optimizer, average, rng)
    clock = EpochClock(start)
    bar = progress_bar(progress, (epochs - start) * _num_batches(x, batch_size, drop_last))
    try:
        with use_epoch_clock(optimizer, clock, schedule_on == "epoch"):
            for epoch in range(start + 1, epochs + 1):
                order = rng.permutation(int(x.shape[0])) if shuffle else None
                index_batches = batches(x.shape[0], batch_size, order, drop_last)
                history.append(**run.epoch_row(epoch, x, y, index_batches, val, bar, clock))
                stop = any(bool(cb(history, model, optimizer)) for cb in callbacks)
                due = checkpoint_every and epoch % checkpoint_every == 0
                if checkpoint_every and (due or stop or epoch == epochs):
                    _save(checkpoint_path, model, optimizer, average, rng, epoch, history)
                if stop:
                    break
    finally:
        model.train()
        if bar is not None:
            bar.close()
    return history


def _integer(y: Any) -> bool:
    from optkit._host import namespace

    return bool(namespace(y).isdtype(y.dtype, "integral"))


def _num_batches(x: Any, batch_size: int, drop_last: bool) -> int:
    n = int(x.shape[0])
    return n // batch_size if drop_last else -(-n // batch_size)


def _postfix(row: dict[str, float]) -> dict[str, str]:
    keys = ("train_loss", "val_loss", "val_accuracy")
    return {k: f"{row[k]:.4g}" for k in keys if k in row and not math.isnan(row[k])}


class _Run:
    """One fit call's fixed parts: the step and the evaluation."""

    eval_batch_size = 4096

    def __init__(self, model, optimizer, loss, average, clipper, track_accuracy):
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self.average, self.clipper, self.track_accuracy = average, clipper, track_accuracy

    def epoch(self, x, y, index_batches, bar) -> dict[str, float]:
        """Train on every batch; the epoch's mean loss, accuracy and gradient norm."""
        model, optimizer = self.model, self.optimizer
        model.train()
        total = correct = 0.0
        seen, norms = 0, []
        for idx in index_batches:
            xb, yb = take(x, idx), take(y, idx)
            value, grads, out = model.loss_and_grad(self.loss, xb, yb, return_output=True)
            norms.append(self.clipper(grads))
            optimizer.step(grads)
            if self.average is not None:
                self.average.update()
            count = int(xb.shape[0])
            total += value * count
            if self.track_accuracy:
                correct += accuracy_of(out, yb) * count
            seen += count
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4g}", refresh=False)
        row = {"train_loss": total / max(seen, 1), "grad_norm": float(np.mean(norms))}
        if self.track_accuracy:
            row["train_accuracy"] = correct / max(seen, 1)
        return row

    def epoch_row(self, epoch, x, y, index_batches, val, bar, clock) -> dict[str, float]:
        """Train one epoch, evaluate, feed the plateaus: the History row."""
        optimizer = self.optimizer
        began = time.perf_counter()
        row = self.epoch(x, y, index_batches, bar)
        row["lr"] = first_lr(optimizer, optimizer.step_count - 1)  # the last step's
        row.update(self.evaluate(val, self.eval_batch_size, self.loss))
        clock.epoch = epoch
        for plateau in plateaus(optimizer):
            plateau.observe(row.get("val_loss", row["train_loss"]))
        row.update(epoch=epoch, steps=optimizer.step_count)
        row["time"] = time.perf_counter() - began
        if bar is not None:
            bar.set_postfix(epoch=epoch, **_postfix(row), refresh=True)
        return row

    def evaluate(self, val, batch_size: int, loss) -> dict[str, float]:
        """Validation loss and accuracy, for the last iterate and the average."""
        if val is None:
            return {}
        row = evaluate(self.model, val, batch_size, loss, self.track_accuracy, "val_")
        if self.average is not None and self.average.count > 0:
            with self.average.swapped():
                row.update(
                    evaluate(
                        self.model, val, batch_size, loss, self.track_accuracy, "avg_val_"
                    )
                )
        return row


def _save(path, model, optimizer, average, rng, epoch, history) -> None:
    from optkit.checkpoint import save_checkpoint

    save_checkpoint(
        path,
        model=model,
        optimizer=optimizer,
        average=average,
        epoch=epoch,
        rng=rng.bit_generator.state,
        model_rng=model.rng_state(),
        history=history.as_dict(),
    )


def _restore(path, model, optimizer, average, rng) -> tuple[History, int]:
    """Load a fit checkpoint into the objects; (history so far, last epoch)."""
    from optkit.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    needed = ("model", "optimizer", "average", "epoch", "rng", "model_rng", "history")
    missing = [k for k in needed if k not in ckpt]
    if missing:
        raise ValueError(f"{os.fspath(path)!r} is not a fit checkpoint: missing {missing}")
    if (ckpt["average"] is None) != (average is None):
        raise ValueError(
            "the checkpoint was saved "
            + ("without" if ckpt["average"] is None else "with")
            + " an average; pass the same average= to resume"
        )
    history = History(ckpt["history"])
    before = (model.state_dict(), optimizer.state_dict(), model.rng_state())
    try:  # all or nothing: a part that does not fit restores the others
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if average is not None:
            average.load_state_dict(ckpt["average"])
        model.set_rng_state(ckpt["model_rng"])
        rng.bit_generator.state = ckpt["rng"]
    except BaseException:
        model.load_state_dict(before[0])
        optimizer.load_state_dict(before[1])
        model.set_rng_state(before[2])
        raise
    return history, int(ckpt["epoch"])
