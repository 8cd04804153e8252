"""What a person sees in the terminal: progress bars, running trials, tables."""
