"""The `autovalue` command line: a thin layer that calls into each part of the system."""
