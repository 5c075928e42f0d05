"""Private implementation of the citycredit core. Import from `citycredit` instead."""
