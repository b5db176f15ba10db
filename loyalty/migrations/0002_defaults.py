from django.contrib.auth.management import create_permissions
from django.db import migrations

from loyalty.defaults import groups_ensure, program_defaults_ensure


def forwards(apps, schema_editor):
    program_defaults_ensure(
        ProgramSettings=apps.get_model("loyalty", "ProgramSettings"),
        Tier=apps.get_model("loyalty", "Tier"),
        BeneficiaryCategory=apps.get_model("loyalty", "BeneficiaryCategory"),
    )
    # Permissions are normally created after migrate; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    groups_ensure(Group=apps.get_model("auth", "Group"),
                  Permission=apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0001_initial"),
        ("members", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("django_celery_results", "0014_alter_taskresult_status"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
