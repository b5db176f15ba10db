from django.urls import path

from messaging import views

app_name = "messaging"

urlpatterns = [
    path("unsubscribe/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
    path("survey/<str:token>/", views.survey_view, name="survey"),
    path("sms/inbound/", views.sms_inbound_view, name="sms_inbound"),
]
