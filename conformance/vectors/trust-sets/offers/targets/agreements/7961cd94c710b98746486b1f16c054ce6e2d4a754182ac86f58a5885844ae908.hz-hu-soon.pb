

hz-hu-soonô’„– Ğ©ö×2$æ­æ¹–äº’è®¤ (from an hour after T0)