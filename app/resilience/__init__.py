"""The guarded vendor call: the circuit breaker and the retries within one deadline."""
