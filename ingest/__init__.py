"""Collectors: the only code that writes raw_* tables (IO at the edge)."""
