from django.db import migrations, models
from django.db.models import Max


def remember_issued_ids(apps, schema_editor):
    """Start each tenant's counter at its highest contact id: nothing lower is given out again."""
    Tenant = apps.get_model("sandbox", "Tenant")
    Contact = apps.get_model("sandbox", "Contact")
    for tenant in Tenant.objects.all():
        top = Contact.objects.filter(tenant=tenant).aggregate(top=Max("keap_id"))["top"] or 0
        Tenant.objects.filter(pk=tenant.pk).update(contact_id_high=top)


class Migration(migrations.Migration):

    dependencies = [
        ('sandbox', '0003_hooks'),
    ]

    operations = [
        migrations.AddField(
            model_name='tenant',
            name='contact_id_high',
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(remember_issued_ids, migrations.RunPython.noop),
    ]
