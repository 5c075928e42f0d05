��U
	hu-scenic�� (2*景区免票2	hu scenicZ景区免票（测试）b	hu-scenic