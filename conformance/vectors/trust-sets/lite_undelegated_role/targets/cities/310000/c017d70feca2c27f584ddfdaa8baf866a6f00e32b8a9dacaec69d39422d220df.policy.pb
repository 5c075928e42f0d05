рх
shanghai-conformance 