"""The autopilot's walk after the search: diagnose, the two questions, remedies, the paired keep rule, steps as study trials."""
