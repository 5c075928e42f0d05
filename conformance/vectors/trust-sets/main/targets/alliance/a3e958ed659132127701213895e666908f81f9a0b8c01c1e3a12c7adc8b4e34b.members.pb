
citycredit conformance alliance ô’æ­å·Hangzhou"hangzhou •å˜‰å…´Jiaxing"jiaxing°˜è¡¢å·Quzhou"quzhou