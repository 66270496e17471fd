"""Studies: one run into an atomic results directory, parameter sweeps, comparisons, worker pools."""
