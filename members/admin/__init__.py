"""Admin for members, their purchases, refunds and points ledger.

Money and points move only through the services: purchases, refunds, lots, ledger and
consent records are read-only here for everyone, superusers included; the member page
offers the manual adjustment and the consent change, the purchase page the refund, as
dialogs that call the services.
"""

from members.admin import member, records

__all__ = ["member", "records"]
