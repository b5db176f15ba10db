"""Promo codes in the partner API: validate a typed code, issue and list a member's
personal codes. Redeeming is the checkout's `code`; rollback is the refund's."""
