"""Hyperparameter search over any recipe (``kforge tune``), on Optuna.

A recipe's ``search:`` section names recipe paths and the values to try there; every trial is a normal
run folder, the study lives in a database (SQLite by default) that several workers share and that a
re-run of the same command continues.

Example:
    >>> from kerasforge.tune import tune
    >>> result = tune("digits_mlp_tune.yaml", sampler="tpe", trials=10)   # doctest: +SKIP
    >>> import kerasforge
    >>> run = kerasforge.train(result.best_recipe_path)                   # doctest: +SKIP
"""

from __future__ import annotations

from .space import SearchSpace, load_search
from .tuner import TuneResult, tune

__all__ = ["SearchSpace", "TuneResult", "load_search", "tune"]
