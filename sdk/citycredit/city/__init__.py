"""The city credit office's side of the alliance: its keys, its register, the parts it signs.

    office = CityOffice.open("D/cities/hangzhou", keystore)
    issued = office.issue(holder_ref="330102…", tier=rating.tier, band=rating.band, now_s=now)
    office.set_status(code, Status.SUSPENDED, holder=True, now_s=now)   # a credit commitment: reversible
    role, files, _ = office.signed_role(now_s=now)                      # for upload: signed by this city only

Everything works offline against the city's own store (`CityOffice`); `upload` sends
the signed results to the gateway, which checks them against the city's authority key
and can neither forge nor alter them.
"""

from citycredit.city._office import AUTHORITY_KEY, CityOffice, KeyEntry, StatusChange, role_version_of
from citycredit.city._register import CodeRecord, MerchantRecord, Register
from citycredit.city._upload import Uploader

__all__ = ["AUTHORITY_KEY", "CityOffice", "CodeRecord", "KeyEntry", "MerchantRecord", "Register", "StatusChange",
           "Uploader", "role_version_of"]
