"""Logical plans, physical stages and the planner that turns one into the other.

Everything here is plain frozen data plus pure functions; `plan` never imports `runtime`.
"""
