"""The service's HTTP side: the server (programme audio, /healthz, /metrics), conditional and range
requests, health checks, metrics."""
