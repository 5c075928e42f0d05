"""Scheme data files, one per city."""
