"""Routes by resource: the losses, and the health probes."""
