��d

hz-library�� (2*免押金借书2
hz library8����Z免押金借书（测试）b
hz-libraryZ

hz-parking�� (2
*停车九折2
hz parkingZ停车九折（测试）b
hz-parking�
hz-housing-fund�� (20*公积金贷款额度上浮2hz housing fundHZ'公积金贷款额度上浮（测试）bhz-housing-fundm
hz-scenic-later�� (2!*景区免票2hz scenic later8����Z景区免票（测试）bhz-scenic-laterv
hz-hotel-ended�� (2#*酒店免押金2hz hotel ended8����@����Z酒店免押金（测试）bhz-hotel-ended