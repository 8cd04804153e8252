"""Random search: independent draws, or one scrambled Sobol sequence that continues across calls.

Why random beats grid (Bergstra & Bengio 2012): when only a few of the parameters matter, n
random points try n distinct values of each, where a grid tries n ** (1/d). Sobol points keep
that property and also fill the cube evenly, so the first few dozen trials leave no large holes.

Both modes draw points in the unit cube and decode them with ``space.from_unit``, which maps a
uniform point to the space's prior (log-uniform on log axes, uniform over integers and options):
the pseudo-random mode is exactly ``space.sample``.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from knobs.errors import ConfigError
from knobs.search._base import (
    Sampler, check_flag, check_request, check_seed, fresh_configs, taken_keys,
)
from knobs.space import Space
from knobs.trial import FrozenTrial

__all__ = ["Random", "UnitStream"]

def sobol_points(d: int, seed: int, start: int, n: int) -> np.ndarray:
    """Points ``start .. start + n - 1`` of the scrambled Sobol sequence with this ``seed``.

    NOTE: scipy.stats is imported here, not at the top: it takes about a second to import, which
    ``import knobs`` and independent random draws should not pay."""
    from scipy.stats import qmc

    # scipy >= 1.15 names the Sobol seed `rng`; older releases call it `seed`.
    seed_arg = "rng" if "rng" in inspect.signature(qmc.Sobol).parameters else "seed"
    engine = qmc.Sobol(d, scramble=True, **{seed_arg: seed})
    if start:  # NOTE: scipy's fast_forward(0) on a fresh engine underflows
        engine.fast_forward(start)
    with warnings.catch_warnings():
        # NOTE: scipy warns when a batch is not a power of two; the sequence as a whole (which
        # is what a study consumes) keeps its balance, so the warning is noise here.
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(n)


class UnitStream:
    """A seeded source of points in ``[0, 1)^d``: pseudo-random, or Sobol continued across calls.

    State: the generator's bit-generator state, the Sobol scrambling seed and how many Sobol
    points were drawn — so a resumed study continues the same sequence instead of restarting it.

    Args:
        seed: None (fresh entropy, captured in the state) or an int >= 0.
        qmc: draw scrambled Sobol points instead of independent uniforms.
    """

    def __init__(self, seed: int | None, qmc: bool) -> None:
        self.seed = seed
        self.qmc = qmc
        self._rng: np.random.Generator | None = None
        self._sobol_seed: int | None = None
        self._drawn = 0

    def _generator(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng(check_seed(self.seed))
            # NOTE: only the Sobol mode draws its scrambling seed, so the pseudo-random mode
            # is exactly space.sample with the same generator.
            self._sobol_seed = int(self._rng.integers(2**63)) if self.qmc else None
        return self._rng

    def draw(self, n: int, d: int) -> np.ndarray:
        """``n`` points of ``[0, 1)^d``, shape ``(n, d)``."""
        rng = self._generator()
        if not self.qmc:
            return rng.random((n, d))
        points = sobol_points(d, self._sobol_seed, self._drawn, n)
        self._drawn += n
        return points

    def state_dict(self) -> dict[str, Any]:
        rng = self._generator()
        return {"rng": rng.bit_generator.state, "sobol_seed": self._sobol_seed,
                "drawn": self._drawn}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        try:
            rng = np.random.default_rng()
            rng.bit_generator.state = dict(state["rng"])
            sobol_seed = None if state["sobol_seed"] is None else int(state["sobol_seed"])
            drawn = int(state["drawn"])
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"bad sampler state {dict(state)!r}: expected keys rng, sobol_seed, "
                              f"drawn as written by state_dict() ({e})") from None
        if self.qmc and sobol_seed is None:
            raise ConfigError("bad sampler state: qmc=True needs the sobol_seed its state_dict() "
                              "wrote, got None (was the state saved by a qmc=False sampler?)")
        self._rng, self._sobol_seed, self._drawn = rng, sobol_seed, drawn


class StreamSampler(Sampler):
    """A sampler that draws unit-cube points from one lazily built ``UnitStream``.

    Subclasses set ``seed``, ``qmc`` and ``_stream = None`` in ``__init__``; the stream is built
    (and its arguments validated) at the first draw, where work starts.
    """

    seed: int | None
    qmc: bool
    _stream: UnitStream | None

    def _unit_stream(self) -> UnitStream:
        if self._stream is None:
            self._stream = UnitStream(check_seed(self.seed), check_flag(self.qmc, "qmc"))
        return self._stream


class Random(StreamSampler):
    """Uniform random search over the space's prior, optionally quasi-random (Sobol).

    Suggestions avoid configs that any trial already holds (running ones included) and repeat
    each other only when a small discrete space has no unused point left; then repeats are
    returned so the study can go on (noisy objectives benefit from re-evaluation).

    Args:
        seed: None or an int >= 0. Equal seeds and equal histories give equal suggestions.
        qmc: use one scrambled Sobol sequence (``scipy.stats.qmc.Sobol``) that continues across
            calls and across a resume; better coverage than independent draws for small budgets.

    Example:
        >>> from knobs.space import Float, Space
        >>> space = Space({"lr": Float(1e-4, 1e-1, log=True)})
        >>> [c] = Random(seed=0).suggest(space, [])
        >>> 1e-4 <= c["lr"] <= 1e-1
        True
    """

    def __init__(self, seed: int | None = None, qmc: bool = False) -> None:
        self.seed = seed
        self.qmc = qmc
        self._stream: UnitStream | None = None

    def suggest(self, space: Space, trials: Sequence[FrozenTrial], n: int = 1, *,
                direction: str = "minimize") -> list[dict[str, Any]]:
        trials = check_request(space, trials, n, direction)
        stream = self._unit_stream()

        def propose(m: int) -> list[dict]:
            return [space.from_unit(u) for u in stream.draw(m, len(space))]

        configs = fresh_configs(propose, taken_keys(trials), n)
        return configs + propose(n - len(configs)) if len(configs) < n else configs

    def state_dict(self) -> dict[str, Any]:
        return self._unit_stream().state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._unit_stream().load_state_dict(state)
