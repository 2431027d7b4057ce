"""The embedded world: workloads and instances for tests, benchmarks and the demo."""
