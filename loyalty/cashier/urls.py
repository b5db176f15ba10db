from django.urls import path
from django.views.generic import TemplateView

app_name = "cashier"

urlpatterns = [
    path("", TemplateView.as_view(template_name="cashier/home.html"), name="home"),
    path("login/", TemplateView.as_view(template_name="cashier/home.html"), name="login"),
]
