"""Turning a signed-in user into a vendor token: the identity mapping, reuse, coalescing (in the
process and across instances through Redis) and the sealed values Redis holds."""
