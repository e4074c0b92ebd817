"""What trains many runs and judges them: the repro matrix, sweeps, and the benchmark suite's
selection and runner."""
