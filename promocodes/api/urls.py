from django.urls import path

from promocodes.api.views import MemberPromoCodesView, PromoCodeValidateView

urlpatterns = [
    path("promocodes/validate/", PromoCodeValidateView.as_view(), name="api-promocode-validate"),
    path(
        "members/<str:card_number>/promocodes/",
        MemberPromoCodesView.as_view(),
        name="api-member-promocodes",
    ),
]
