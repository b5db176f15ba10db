from django.urls import path

from messaging.api.views import PushDeviceDetailView, PushDeviceListView

urlpatterns = [
    path(
        "members/<str:card_number>/push-devices/",
        PushDeviceListView.as_view(),
        name="api-push-devices",
    ),
    path(
        "members/<str:card_number>/push-devices/<str:token>/",
        PushDeviceDetailView.as_view(),
        name="api-push-device",
    ),
]
