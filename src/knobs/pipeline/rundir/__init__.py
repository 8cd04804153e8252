"""The run directory: its events log and lock, the trials' checkpoints (top k kept), and best.pt."""
