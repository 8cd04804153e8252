"""The one place a run makes its models: ``build_model(cfg, params, info)``."""
