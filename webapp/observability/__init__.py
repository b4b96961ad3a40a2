"""What an operator sees of a running Onramp: request ids in logs, JSON logs, Prometheus metrics."""
