"""The citycredit gateway: gRPC and REST over one core."""
