"""Which configuration to run again: an abandoned trial's, once.

Why: a trial whose worker died (SIGKILL, out of memory, a lost machine) says nothing about its
configuration, so dropping it would bias the search against whatever that worker happened to
hold. Running it once more recovers the result; running it only once stops a configuration
that kills its worker every time (e.g. one that runs out of memory) from looping forever.

The rule is a pure function of the history, so every worker computes the same answer; the
number-claiming in ``Study._ask`` makes sure only one of them creates the retry.
"""

from __future__ import annotations

from typing import Sequence

from knobs.trial import FrozenTrial, TrialState

__all__ = ["RETRY_OF", "ABANDONED", "FIXED", "is_abandoned", "pending_retry"]

#: the attribute of a retry naming the abandoned trial whose configuration it runs again.
RETRY_OF = "retry_of"
#: the attribute of a trial whose config was given (``Study.ask_fixed``), not sampled: its
#: caller decides whether to run it again, so it is never retried here.
FIXED = "fixed"
#: how ``fail_reason`` starts for a trial whose worker died (see ``_heartbeat.stale_reason``).
ABANDONED = "abandoned"


def is_abandoned(trial: FrozenTrial) -> bool:
    """True for a FAILED trial whose worker died, as opposed to one whose objective raised."""
    return trial.state is TrialState.FAILED and str(trial.attrs.get("fail_reason", "")).startswith(ABANDONED)


def pending_retry(trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
    """The first abandoned sampled trial that is not itself a retry and has not been retried yet."""
    retried = {t.attrs.get(RETRY_OF) for t in trials if RETRY_OF in t.attrs}
    for trial in trials:
        if (is_abandoned(trial) and RETRY_OF not in trial.attrs and not trial.attrs.get(FIXED)
                and trial.number not in retried):
            return trial
    return None
