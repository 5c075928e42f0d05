„–
huzhou-conformance 