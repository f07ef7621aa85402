"""Read-only estimates (storage bits, resources, latency): they never change the graph."""
