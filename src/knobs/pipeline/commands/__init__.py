"""The other commands built on a run's config or directory: ``knobs predict``, ``lr-find``, ``diagnose --config``, ``check``, ``worker``."""
