"""Comparisons, each naming its sides by role (reference, candidate): runs (numerics, levels
a–d), timings (rank test), and whole result sets."""
