from django.conf import settings


def program(request):
    return {
        "currency": settings.LOYALTY_CURRENCY,
        "currency_symbol": settings.LOYALTY_CURRENCY_SYMBOLS.get(
            settings.LOYALTY_CURRENCY, settings.LOYALTY_CURRENCY
        ),
    }
