"""Error tracking: classify stored output into incidents, fold stack traces, fingerprint repeats."""
