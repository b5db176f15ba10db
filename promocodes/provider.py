"""Promo codes as step 3 of the checkout (settings.LOYALTY_REWARD_PROVIDERS)."""

from __future__ import annotations

from loyalty import rules
from loyalty.actors import Actor
from promocodes import selectors, services


class PromoCodeProvider:
    name = "promocode"

    def candidates(self, ctx) -> list[rules.Reward]:
        """The typed code (a refusal is raised as its CodeRefused), or else the member's
        personal codes usable now."""
        if ctx.code:
            code = selectors.code_find(ctx.code)
            refusal = selectors.code_refusal(code, member=ctx.member, total=ctx.total, at=ctx.at)
            if refusal is not None:
                raise refusal
            return [selectors.code_reward(code)]
        return [
            selectors.code_reward(code)
            for code in selectors.member_codes_usable(ctx.member, at=ctx.at)
        ]

    def claim(self, reward: rules.Reward, *, ctx, purchase) -> None:
        services.promo_code_redeem(
            reward=reward,
            member=ctx.member,
            purchase=purchase,
            discount=purchase.code_discount,
            at=ctx.at,
        )

    def release(self, *, purchase, full_refund: bool, actor: Actor) -> None:
        if full_refund and purchase.reward_source == "code":
            services.promo_code_rollback(purchase=purchase, actor=actor)
