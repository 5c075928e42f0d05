"""The citycredit command line."""
