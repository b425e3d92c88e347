"""Named learning-rate schedules for ``LearningRateScheduler`` (``schedule: step_decay``...).

Each factory takes the schedule's arguments from the recipe and returns ``schedule(epoch, lr) -> lr``,
the function Keras' ``LearningRateScheduler`` calls at the start of every epoch. ``module:function``
in the recipe reaches the user's own schedule instead.

Example:
    >>> f = make_schedule("constant_then_exponential", {"start_epoch": 10, "rate": 0.1}, initial_lr=1e-3)
    >>> f(3, 1e-3), round(f(10, 1e-3), 7)
    (0.001, 0.0009048)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

from ..errors import RecipeError, did_you_mean

Schedule = Callable[[int, float], float]


def constant_then_exponential(start_epoch: int = 10, rate: float = 0.1) -> Schedule:
    """Keep the rate for ``start_epoch`` epochs, then multiply it by ``exp(-rate)`` every epoch."""
    def schedule(epoch: int, lr: float) -> float:
        return lr if epoch < start_epoch else lr * math.exp(-rate)
    return schedule


def step_decay(every: int = 10, factor: float = 0.5, initial_lr: float = 1e-3) -> Schedule:
    """Multiply the initial rate by ``factor`` every ``every`` epochs."""
    def schedule(epoch: int, lr: float) -> float:
        return initial_lr * factor ** (epoch // every)
    return schedule


def exponential(rate: float = 0.1, initial_lr: float = 1e-3) -> Schedule:
    """``initial_lr * exp(-rate * epoch)``."""
    def schedule(epoch: int, lr: float) -> float:
        return initial_lr * math.exp(-rate * epoch)
    return schedule


def cosine(epochs: int = 10, min_lr: float = 0.0, warmup_epochs: int = 0, initial_lr: float = 1e-3) -> Schedule:
    """Linear warm-up for ``warmup_epochs``, then cosine decay from ``initial_lr`` to ``min_lr``."""
    def schedule(epoch: int, lr: float) -> float:
        if epoch < warmup_epochs:
            return initial_lr * (epoch + 1) / warmup_epochs
        progress = min(1.0, (epoch - warmup_epochs) / max(1, epochs - warmup_epochs))
        return min_lr + 0.5 * (initial_lr - min_lr) * (1 + math.cos(math.pi * progress))
    return schedule


def linear_warmup_decay(epochs: int = 10, warmup_epochs: float = 2, min_lr: float = 0.0,
                        initial_lr: float = 1e-3) -> Schedule:
    """A triangle: the rate rises linearly from 0 to ``initial_lr`` over ``warmup_epochs``, then falls
    linearly to ``min_lr`` at the end of ``epochs``. Each epoch trains at the triangle's value at its middle.

    >>> f = linear_warmup_decay(epochs=10, warmup_epochs=2, initial_lr=1.0)
    >>> [round(f(e, 0.0), 4) for e in (0, 1, 2, 9)]
    [0.25, 0.75, 0.9375, 0.0625]
    """
    def schedule(epoch: int, lr: float) -> float:
        middle = epoch + 0.5
        if middle < warmup_epochs:
            return initial_lr * middle / warmup_epochs
        progress = min(1.0, (middle - warmup_epochs) / max(1e-9, epochs - warmup_epochs))
        return initial_lr + (min_lr - initial_lr) * progress
    return schedule


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant_then_exponential": constant_then_exponential,
    "step_decay": step_decay,
    "exponential": exponential,
    "cosine": cosine,
    "linear_warmup_decay": linear_warmup_decay,
}


def make_schedule(name: str, arguments: dict, *, initial_lr: float, epochs: int | None = None,
                  where: str = "schedule") -> Schedule:
    """The schedule called ``name`` (or ``module:function``) built with ``arguments``.

    A schedule with an ``epochs`` argument that the recipe leaves out runs over ``epochs``, the run's own
    length, so ``--set train.epochs=N`` stretches or shrinks it too.

    >>> f = make_schedule("cosine", {}, initial_lr=1.0, epochs=4)
    >>> [round(f(e, 0.0), 3) for e in range(4)]
    [1.0, 0.854, 0.5, 0.146]
    """
    if ":" in name:
        from ..reference_kinds import expect
        from ..references import load_reference

        return expect(name, load_reference(name, where=where), "schedule", where=where)
    factory = SCHEDULES.get(name)
    if factory is None:
        raise RecipeError(f"unknown learning-rate schedule {name!r}." + did_you_mean(name, SCHEDULES),
                          where=where, fix=f"Use one of {', '.join(SCHEDULES)} or 'module:function' "
                          "for your own function(epoch, lr) -> lr.")
    params = inspect.signature(factory).parameters
    unknown = [k for k in arguments if k not in params]
    if unknown:
        raise RecipeError(f"schedule {name!r} has no argument {unknown[0]!r}."
                          + did_you_mean(unknown[0], list(params)),
                          where=f"{where}.{unknown[0]}",
                          fix=f"Its arguments are: {', '.join(p for p in params if p != 'initial_lr')}.")
    if "initial_lr" in params:
        arguments = {"initial_lr": initial_lr, **arguments}
    if "epochs" in params and "epochs" not in arguments and epochs:
        arguments = {**arguments, "epochs": epochs}
    return factory(**arguments)
