from django.contrib.auth.management import create_permissions
from django.db import migrations

from loyalty.defaults import groups_ensure
from messaging.defaults import message_templates_ensure


def forwards(apps, schema_editor):
    # The default templates of the campaign messages.
    message_templates_ensure(MessageTemplate=apps.get_model("messaging", "MessageTemplate"))
    # Permissions of new models exist only after migrate ends (post_migrate); the groups
    # need them now, so they are made here first.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    groups_ensure(
        Group=apps.get_model("auth", "Group"), Permission=apps.get_model("auth", "Permission")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_campaign_mechanics"),
        ("members", "0006_referral_birthday_beneficiary_proof"),
        ("messaging", "0003_outbox_guards"),
        ("promocodes", "0002_marketing_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
