"""Platsa's thin shell: the command line, the HTTP service and persistence."""
