��Z

jx-fitness�� 	(2*健身八折2
jx fitnessZ健身八折（测试）b
jx-fitness^

jx-library�� (2*免押金借书2
jx libraryZ免押金借书（测试）b
jx-library