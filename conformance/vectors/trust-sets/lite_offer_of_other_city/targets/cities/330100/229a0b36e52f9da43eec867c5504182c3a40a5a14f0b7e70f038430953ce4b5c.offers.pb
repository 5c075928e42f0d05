��d

hz-library�� (2*免押金借书2
hz library8����Z免押金借书（测试）b
hz-library�
qz-parking-free-3�� (2/ *每月免费停车3次2qz parking free 3RZ"每月免费停车3次（测试）bqz-parking-free-3