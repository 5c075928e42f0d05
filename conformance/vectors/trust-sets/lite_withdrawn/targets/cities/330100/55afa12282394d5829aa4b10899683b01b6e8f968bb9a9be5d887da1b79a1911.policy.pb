ô’
hangzhou-conformance 
hz-qz°ñõ×