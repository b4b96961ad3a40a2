import django.db.models.deletion
from django.db import migrations, models


def attach_to_current_app(apps, schema_editor):
    """Connections made before developer apps were data belong to the configured one."""
    from django.conf import settings

    from webapp import encryption

    KeapConnection = apps.get_model("connections", "KeapConnection")
    DeveloperApp = apps.get_model("keap", "DeveloperApp")
    if not KeapConnection.objects.exists():
        return
    current, _ = DeveloperApp.objects.get_or_create(
        client_id=settings.KEAP_CLIENT_ID,
        defaults={
            "name": "Default",
            "client_secret_sealed": encryption.encrypt(settings.KEAP_CLIENT_SECRET),
            "authorize_url": settings.KEAP_AUTHORIZE_URL,
            "token_url": settings.KEAP_TOKEN_URL,
            "api_url": settings.KEAP_API_URL,
            "limit_per_second": 25,
            "limit_per_minute": 1500,
            "limit_per_day": 150000,
            "tenant_limit_per_minute": 10000,
            "tenant_limit_per_day": 250000,
        },
    )
    KeapConnection.objects.update(developer_app_id=current.pk)


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0002_refresh_retry_after"),
        ("keap", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="keapconnection",
            name="developer_app",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="connections",
                to="keap.developerapp",
            ),
        ),
        migrations.RunPython(attach_to_current_app, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="keapconnection",
            name="developer_app",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="connections",
                to="keap.developerapp",
            ),
        ),
    ]
