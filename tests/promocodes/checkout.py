"""Committing a receipt in promo code tests: checkout_commit with the test's defaults."""

from members.services import checkout_commit


def commit(member, total, *, store, actor, receipt="R-1", points=0, **kwargs):
    """Commit receipt `receipt` of `total`; `points=None` spends every point allowed."""
    return checkout_commit(
        member=member,
        store=store,
        receipt_number=receipt,
        total=total,
        points_to_spend=points,
        actor=actor,
        **kwargs,
    )
