"""Factories for every model, with realistic Russian data (Faker ru_RU)."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from factory.django import DjangoModelFactory
from faker import Faker

from loyalty.models import BeneficiaryCategory, Partner, PartnerAPIKey, Store, Tier
from members.cards import card_number_generate
from members.models import Member
from messaging.models import is_marketing

fake = Faker("ru_RU")


def ru_mobile(n: int) -> str:
    return f"+7912{n % 10_000_000:07d}"


class StoreFactory(DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"ST-{n:02d}")
    name = factory.LazyFunction(lambda: f"Магазин на {fake.street_name()}")
    city = "Москва"


class TierFactory(DjangoModelFactory):
    class Meta:
        model = Tier
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Tier {n}")
    threshold = factory.Sequence(lambda n: Decimal(n * 1000))
    discount_percent = Decimal("0")
    earn_percent = Decimal("1")


class BeneficiaryCategoryFactory(DjangoModelFactory):
    class Meta:
        model = BeneficiaryCategory
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"category-{n}")
    name = factory.Sequence(lambda n: f"Категория {n}")
    discount_percent = Decimal("7")
    is_proof_required = True


class MemberFactory(DjangoModelFactory):
    class Meta:
        model = Member

    card_number = factory.LazyFunction(card_number_generate)
    phone = factory.Sequence(ru_mobile)
    email = factory.Sequence(lambda n: f"member{n}@example.ru")
    first_name = factory.LazyFunction(fake.first_name)
    last_name = factory.LazyFunction(fake.last_name)
    birth_date = factory.LazyFunction(lambda: fake.date_of_birth(minimum_age=18, maximum_age=80))
    tier = factory.LazyFunction(
        lambda: Tier.objects.order_by("threshold").first() or TierFactory(threshold=Decimal(0))
    )


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.ru")
    password = factory.django.Password("correct-horse-battery")
    is_staff = False

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        for name in extracted or []:
            self.groups.add(Group.objects.get(name=name))


class PartnerFactory(DjangoModelFactory):
    class Meta:
        model = Partner

    name = factory.Sequence(lambda n: f"Партнёр {n}")
    scopes = factory.LazyFunction(lambda: list(Partner.Scope.values))


def partner_key(partner: Partner, **kwargs) -> str:
    """Create an API key for the partner and return the plain key (shown once)."""
    _obj, key = PartnerAPIKey.objects.create_key(
        name=kwargs.pop("name", "test"), partner=partner, **kwargs
    )
    return key


class CampaignFactory(DjangoModelFactory):
    class Meta:
        model = "campaigns.Campaign"
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Кампания {n}")


class CodeBatchFactory(DjangoModelFactory):
    """A generated batch valid from yesterday for 30 days, 10% off, one use per code."""

    class Meta:
        model = "promocodes.CodeBatch"

    name = factory.Sequence(lambda n: f"Скидка 10% #{n}")
    count = 10
    valid_from = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    valid_until = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))
    reward_kind = "percent"
    reward_value = Decimal("10")


class PromoCodeFactory(DjangoModelFactory):
    """A code of the batch's format with a valid check character."""

    class Meta:
        model = "promocodes.PromoCode"

    batch = factory.SubFactory(CodeBatchFactory)
    code = factory.LazyAttribute(lambda o: promo_code_text(o.batch))
    max_uses = factory.LazyAttribute(lambda o: o.batch.uses_per_code)


def promo_code_text(batch) -> str:
    from promocodes import codes

    fmt = batch.code_format
    return next(codes.codes_split(codes.codes_generate(fmt, 1), fmt))


class MessageTemplateFactory(DjangoModelFactory):
    """The template of a kind and channel, with the given texts: the default template
    the program starts with is overwritten, so a test says what the template is."""

    class Meta:
        model = "messaging.MessageTemplate"

    kind = "promo_code"
    channel = "sms"
    campaign = None
    subject_ru = "Подарок для вас"
    body_ru = "{{ first_name }}, ваш промокод {{ code }} действует до {{ deadline|date:'j E' }}."
    subject_en = "A gift for you"
    body_en = "{{ first_name }}, your promo code {{ code }} is valid until {{ deadline }}."

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        keys = {name: kwargs.pop(name) for name in ("kind", "channel", "campaign")}
        template, _created = model_class.objects.update_or_create(**keys, defaults=kwargs)
        return template


class MessageFactory(DjangoModelFactory):
    """A queued message (pending, due now) without going through message_queue."""

    class Meta:
        model = "messaging.Message"

    kind = "promo_code"
    channel = "sms"
    member = factory.SubFactory(MemberFactory)
    event_key = factory.Sequence(lambda n: f"test:{n}")
    context = factory.LazyFunction(dict)
    is_marketing = factory.LazyAttribute(lambda o: is_marketing(o.kind))
    send_after = factory.LazyFunction(timezone.now)


class SurveyFactory(DjangoModelFactory):
    class Meta:
        model = "messaging.Survey"

    member = factory.SubFactory(MemberFactory)
    purchase = None
    channel = "email"
    created_at = factory.LazyFunction(timezone.now)


class SegmentFactory(DjangoModelFactory):
    class Meta:
        model = "campaigns.Segment"
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Сегмент {n}")


class OfferCampaignFactory(CampaignFactory):
    """A time-limited offer: 30% off, from an hour ago for a week, active."""

    kind = "offer"
    status = "active"
    reward_kind = "percent"
    reward_value = Decimal("30")
    starts_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=7))


class NthPurchaseCampaignFactory(CampaignFactory):
    """PRODUCT.md's "every 5th purchase 50% off", active without an end."""

    kind = "nth_purchase"
    status = "active"
    every_n = 5
    reward_kind = "percent"
    reward_value = Decimal("50")
    starts_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))


class ClosedSaleFactory(CampaignFactory):
    """A closed sale of 25% for a segment, opening in 3 days for 2 days (scheduled)."""

    kind = "closed_sale"
    status = "scheduled"
    reward_kind = "percent"
    reward_value = Decimal("25")
    lead_days = 3
    starts_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=3))
    ends_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=5))


class CampaignOfferFactory(DjangoModelFactory):
    """One member's offer of a campaign: 30% off, valid for a week from an hour ago."""

    class Meta:
        model = "campaigns.Offer"

    campaign = factory.SubFactory(OfferCampaignFactory)
    member = factory.SubFactory(MemberFactory)
    title = factory.LazyAttribute(lambda o: f"{o.campaign.name}: 30%")
    reward_kind = "percent"
    reward_value = Decimal("30")
    valid_from = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1))
    valid_until = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=7))
    created_at = factory.LazyFunction(timezone.now)
