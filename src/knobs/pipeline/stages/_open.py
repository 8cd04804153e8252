"""The vault and study stages: seal the test split, open the run's study, claim it for the run.

NOTE: what can refuse a resumed run (another test set, space or metric) comes first, so a refused
resume writes nothing: no run_start event, no preprocess.json of the new config.
"""

from __future__ import annotations

from dataclasses import dataclass
from knobs.config import RunConfig
from knobs.data import Vault
from knobs.data._vault import VaultMismatch
from knobs.errors import ConfigError
from knobs.pipeline.inputs._split_record import SPLITS_FILE
from knobs.pipeline.inputs._streamed import seal_test
from knobs.pipeline.rundir._rundir import EventLog, RunDir
from knobs.pipeline.stages._inputs import RunInputs
from knobs.pipeline.stages._resume_guard import refuse_changed_inputs
from knobs.pipeline.stages._study import claim_run, open_study, study_location
from knobs.pipeline.ui._display import Display
from knobs.study import Study
from knobs.study._resume import StudyMismatch

__all__ = ["OpenRun", "seal_vault", "open_run_study"]


@dataclass
class OpenRun:
    """A run whose directory, vault, study and event log are open: what every later stage works on."""

    cfg: RunConfig
    inputs: RunInputs
    rundir: RunDir
    display: Display
    vault: Vault
    study: Study
    study_url: str
    events: EventLog
    #: why the search finished fewer trials than asked (``summary.search.stopped``), or None
    search_stopped: str | None = None


def seal_vault(cfg: RunConfig, inputs: RunInputs, rundir: RunDir) -> Vault:
    """Seal the test split (a resumed run: check it is the same one)."""
    record = inputs.split_record or {}
    meta = {"source": inputs.dataset.source, "seed": cfg.seed, "test_rows_sha256": record.get("test_sha256")}
    try:
        vault = seal_test(rundir.vault_dir, inputs.splits.test, meta)  # streamed: the rows' positions
    except VaultMismatch as e:
        raise _refused(rundir, e, "another test set (data.source, the data file, data.test or seed has changed since)")
    if record:
        rundir.write_json(SPLITS_FILE, record)  # which rows each split holds, by name
    inputs.release_test()
    return vault


def open_run_study(cfg: RunConfig, inputs: RunInputs, rundir: RunDir) -> tuple[Study, str]:
    """(the run's study, its storage URL), created or reopened, and claimed for this run (what
    ``knobs worker`` rebuilds the objective from). A resume that changes what the run's
    checkpoints mean (a ``data.*`` key, ``model.family``) is refused before anything is written."""
    url, name = study_location(cfg, rundir)
    try:
        study = open_study(cfg, url, name, inputs.space)
    except StudyMismatch as e:
        raise _refused(rundir, e, f"another {e.what}")
    if not rundir.created:  # the config the run started with, before claim_run replaces it
        refuse_changed_inputs(study.attrs, cfg, rundir.path)
    claim_run(study, cfg, rundir)
    return study, url


def _refused(rundir: RunDir, error: Exception, what: str) -> Exception:
    """The error to raise: a resumed run refused in one message, or ``error`` itself for a new run
    (one meeting another run's study in a shared database: not a resume)."""
    if rundir.created:
        return error
    refused = ConfigError(f"run {rundir.path} cannot resume with this config: it started with {what}. Run it "
                          f"with the config it started with, or choose another --name")
    refused.__suppress_context__ = True
    return refused
