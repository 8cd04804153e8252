"""One trial of a run: the objective (one split or k folds), population trials, and a trained model's outputs and metrics."""
