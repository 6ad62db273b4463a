"""Pure analytics over warehouse tables (fragmentation, placement, recommendation rules)."""
