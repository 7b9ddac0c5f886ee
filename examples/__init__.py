"""Examples of host applications that mount the token broker."""
