"""Deterministic simulated GPU fleet: the embedded demo data source."""
