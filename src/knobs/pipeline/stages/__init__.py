"""The stages of ``knobs run``: the cycle and its steps (study, preflight, final evaluation or refit)."""
