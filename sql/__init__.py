"""SQL shipped with the package: `migrations/` (versioned schema) and `models/` (the build)."""
