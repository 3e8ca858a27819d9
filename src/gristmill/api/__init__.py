"""The user-facing front doors: the lazy `Dataset` and its sources."""
