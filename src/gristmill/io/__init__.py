"""Storage: file listing and splits, record formats, and the output commit protocol."""
