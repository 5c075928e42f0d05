��U
xm-bike�� (2*免押金骑行2xm bikeZ免押金骑行（测试）bxm-bike