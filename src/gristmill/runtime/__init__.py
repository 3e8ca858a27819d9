"""Execution: tasks, the scheduler, and the backends that run tasks (inline, local processes).

`runtime` interprets plans; it never imports `api`.
"""
