 •
jiaxing-conformance 