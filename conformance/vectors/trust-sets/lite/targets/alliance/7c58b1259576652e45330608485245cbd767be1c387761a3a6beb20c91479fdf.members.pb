
&citycredit conformance alliance (lite) ÙíÊù≠Â∑ûHangzhou"hangzhou∞òË°¢Â∑ûQuzhou"quzhou