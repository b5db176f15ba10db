from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from loyalty.cashier import views

app_name = "cashier"

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="cashier/login.html",
            next_page=reverse_lazy("cashier:home"),
        ),
        name="login",
    ),
    path(
        "logout/",
        auth_views.LogoutView.as_view(next_page=reverse_lazy("cashier:login")),
        name="logout",
    ),
    path("members/<str:card_number>/", views.member, name="member"),
    path("members/<str:card_number>/evaluate/", views.evaluate, name="evaluate"),
    path("members/<str:card_number>/code-check/", views.code_check, name="code_check"),
    path(
        "members/<str:card_number>/beneficiary-proof/",
        views.beneficiary_proof,
        name="beneficiary_proof",
    ),
    path("purchases/<int:pk>/", views.purchase, name="purchase"),
    path("purchases/<int:pk>/refund/", views.refund, name="refund"),
    path("refunds/<int:pk>/", views.refund_done, name="refund_done"),
]
