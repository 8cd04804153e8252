"""Search spaces: ``Float``, ``Int``, ``Choice`` parameters collected in a ``Space``.

The space owns validation, sampling, log scales, the unit-cube encoding every sampler works in,
grids, conditional parameters and the JSON form a study stores. It imports numpy only.

Example:
    >>> from knobs.space import Choice, Float, Space
    >>> space = Space({"optimizer": Choice(["sgd", "adam"]),
    ...                "momentum": Float(0.5, 0.99, when={"optimizer": "sgd"}),
    ...                "lr": Float(1e-4, 1e-1, log=True)})
    >>> space.names
    ('optimizer', 'momentum', 'lr')
    >>> len(space.grid(3))      # sgd: 3 momenta x 3 lrs, adam: 3 lrs
    12
"""

from knobs.space._params import Choice, Float, Int, Param
from knobs.space._space import Space

__all__ = ["Choice", "Float", "Int", "Param", "Space"]
