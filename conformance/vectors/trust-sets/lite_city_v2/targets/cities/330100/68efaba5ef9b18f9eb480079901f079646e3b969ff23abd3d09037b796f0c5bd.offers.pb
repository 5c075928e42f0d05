��d

hz-library�� (2*免押金借书2
hz library8����Z免押金借书（测试）b
hz-library