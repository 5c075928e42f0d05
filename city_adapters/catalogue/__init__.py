"""Offer and agreement catalogues shipped as data (the demonstration alliance)."""
