"""How a run's trials are run: in this process, in local worker processes, as Ray tasks, or as populations."""
