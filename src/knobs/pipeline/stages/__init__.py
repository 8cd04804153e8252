"""The stages of ``knobs run``, in order: inputs (``_inputs``), vault and study (``_open``,
``_study``), preflight, search (on the run's runner, ``_runners``), [autopilot], final evaluation
(the run's mode, ``_modes``: ``_final`` or ``_refit``) and report; ``_cycle.run`` reads as that list."""
