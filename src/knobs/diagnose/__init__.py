"""Diagnosis: the babysitting of a training run, automated.

``diagnose(model, train, val, trainer=Trainer(...))`` diagnoses the setup you train (the Trainer's
optimizer, lr, batch size, loss, schedule, precision; ``Trainer()``'s defaults when none is given;
``(X, y)`` tensors or DataLoaders): it runs the preflight checks, trains a copy of the model for a
few epochs under ``knobs.watch.Watch``, compares it with a scikit-learn reference and,
when the run was unstable or fit too little, with the same training at 1/10 or 10x the learning
rate. It returns a ``Report`` whose ``findings`` each carry a ``code`` (``CODES``), a
``severity``, the ``evidence`` and the recommended ``action``.

The same for a ``knobs run`` config (``knobs diagnose --config``: its data, split and
standardization, and the reference model at the centre of its search space) is the run's:
``knobs.pipeline.diagnose_config`` and ``check_config``.

Example:
    >>> import knobs
    >>> report = knobs.diagnose(model, train_loader, val_loader, trainer=Trainer(lr=1e-3))  # doctest: +SKIP
    >>> print(report)                                                                  # doctest: +SKIP
    [WARNING] overfitting: training score 1.000 vs validation 0.839 (gap 0.161); ...
"""

import sys
import types

from knobs.diagnose._diagnose import diagnose
from knobs.diagnose._finding import CODES, Finding
from knobs.diagnose._report import Report

__all__ = ["CODES", "Finding", "Report", "diagnose"]


class _CallablePackage(types.ModuleType):
    """This package, callable as ``knobs.diagnose(...)``.

    NOTE: importing a subpackage binds its module to the parent's attribute of the same name, so
    after ``import knobs.diagnose`` the name ``knobs.diagnose`` is this module, never the function.
    Making the module callable (a documented use of assigning ``module.__class__``) keeps
    ``knobs.diagnose(model, ...)`` working either way.
    """

    def __call__(self, *args, **kwargs) -> Report:
        return diagnose(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
