
citycredit conformance alliance ô’æ­å·Hangzhou"hangzhou •å˜‰å…´Jiaxing"jiaxing„–æ¹–å·Huzhou"huzhou°˜è¡¢å·Quzhou"quzhouø¯å¦é—¨Xiamen"xiamen