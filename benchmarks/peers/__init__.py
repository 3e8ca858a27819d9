"""Peer implementations of each workload, run as separate processes."""
