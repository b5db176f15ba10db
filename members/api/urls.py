from django.urls import path
from rest_framework.routers import SimpleRouter

from members.api.checkout import CheckoutCommitView, CheckoutEvaluateView
from members.api.members import MemberViewSet
from members.api.offers import MemberOffersView
from members.api.purchases import PurchaseViewSet

router = SimpleRouter()
router.register("members", MemberViewSet, basename="api-member")
router.register("purchases", PurchaseViewSet, basename="api-purchase")

urlpatterns = [
    *router.urls,
    path("members/<str:card_number>/offers/", MemberOffersView.as_view(), name="api-member-offers"),
    path("checkout/evaluate/", CheckoutEvaluateView.as_view(), name="api-checkout-evaluate"),
    path("checkout/commit/", CheckoutCommitView.as_view(), name="api-checkout-commit"),
]
