from django.urls import path

from messaging.api.views import PushDeviceListView, PushDeviceRemoveView

urlpatterns = [
    path(
        "members/<str:card_number>/push-devices/",
        PushDeviceListView.as_view(),
        name="api-push-devices",
    ),
    path(
        "members/<str:card_number>/push-devices/remove/",
        PushDeviceRemoveView.as_view(),
        name="api-push-device-remove",
    ),
]
