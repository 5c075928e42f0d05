°˜
quzhou-conformance 
hz-qzÐ©ö×