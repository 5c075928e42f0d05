°˜
quzhou-conformance 