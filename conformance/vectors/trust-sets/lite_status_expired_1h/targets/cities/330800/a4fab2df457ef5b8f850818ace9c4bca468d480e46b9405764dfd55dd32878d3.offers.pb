���
qz-parking-free-3�� (2/ *每月免费停车3次2qz parking free 3RZ"每月免费停车3次（测试）bqz-parking-free-3