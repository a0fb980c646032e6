"""Runtimes of the donated devices, one module per kind (`kinds.py` lists the kinds)."""
