"""Push devices for partners: the member's app registers the installation that push
messages go to, and removes it on sign-out. Thin: the writes are in
messaging.services.devices."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.actors import Actor
from loyalty.api.schema import errors_common
from loyalty.models import Partner
from members import selectors as member_selectors
from messaging.models import PushDevice
from messaging.services.devices import push_device_register, push_device_remove

TAG = "Members"


class PushDeviceSerializer(serializers.Serializer):
    token = serializers.CharField(
        max_length=512,
        help_text=_("The device token (or web push endpoint) your push provider gave the app."),
    )
    platform = serializers.ChoiceField(choices=PushDevice.Platform.choices)
    is_active = serializers.BooleanField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class MembersWriteView(APIView):
    """A member's devices are member data the partner writes: `members:write`."""

    def get_required_scope(self, request) -> str:
        return Partner.Scope.MEMBERS_WRITE


class PushDeviceListView(MembersWriteView):
    @extend_schema(
        tags=[TAG],
        operation_id="push_device_register",
        summary=_("Register a push device"),
        description=_(
            "The member's app signed in on a device: push messages to the member go to the "
            "latest active device registered. Registering a token again is harmless (200); "
            "a token registered to another member moves to this one. Push messages still "
            "need the member's push consent. Needs `members:write`."
        ),
        request=PushDeviceSerializer,
        responses={
            201: PushDeviceSerializer,
            200: PushDeviceSerializer,
            **errors_common({400: ["bad_card_number"], 404: ["member_not_found"]}, has_body=True),
        },
        examples=[
            OpenApiExample(
                "Register",
                request_only=True,
                value={"token": "fcm:dXNlcjEyMzQ1Njc4OTA", "platform": "android"},
            )
        ],
    )
    def post(self, request, card_number: str):
        member = member_selectors.member_get(card_number=card_number)
        serializer = PushDeviceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device, created = push_device_register(
            member=member,
            token=serializer.validated_data["token"].strip(),
            platform=serializer.validated_data["platform"],
            actor=Actor.for_partner(request.partner),
        )
        return Response(
            PushDeviceSerializer(device).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PushDeviceTokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)


class PushDeviceRemoveView(MembersWriteView):
    @extend_schema(
        tags=[TAG],
        operation_id="push_device_remove",
        summary=_("Remove a push device"),
        description=_(
            "The member signed out of the app on this device: no more push messages go "
            "there. Removing a token that is not the member's, or already removed, is "
            "harmless (204). The token is sent in the body: web push endpoints are long "
            "URLs. Needs `members:write`."
        ),
        request=PushDeviceTokenSerializer,
        responses={
            204: OpenApiResponse(description=_("Removed.")),
            **errors_common({400: ["bad_card_number"], 404: ["member_not_found"]}, has_body=True),
        },
    )
    def post(self, request, card_number: str):
        member = member_selectors.member_get(card_number=card_number)
        serializer = PushDeviceTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        push_device_remove(
            member=member,
            token=serializer.validated_data["token"].strip(),
            actor=Actor.for_partner(request.partner),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
