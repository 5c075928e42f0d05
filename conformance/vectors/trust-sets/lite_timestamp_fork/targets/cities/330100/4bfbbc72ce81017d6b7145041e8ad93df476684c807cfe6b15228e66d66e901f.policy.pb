ô’
hangzhou-conformance 