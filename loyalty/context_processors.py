from django.conf import settings


def currency_symbol() -> str:
    """The program currency's sign (₽), or its code when it has none."""
    return settings.LOYALTY_CURRENCY_SYMBOLS.get(
        settings.LOYALTY_CURRENCY, settings.LOYALTY_CURRENCY
    )


def program(request):
    return {"currency": settings.LOYALTY_CURRENCY, "currency_symbol": currency_symbol()}
