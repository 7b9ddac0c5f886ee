"""The guarded vendor call: the circuit breaker, the retries within one deadline, and the
translation of a vendor failure into the answer the caller gets."""
