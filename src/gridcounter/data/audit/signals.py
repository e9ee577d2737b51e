"""Stamp every history row with the acting user, hall, channel and reason."""
from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from .context import current_actor


@receiver(pre_create_historical_record)
def stamp_history(sender, instance, history_instance, **kwargs):
    actor = current_actor()
    if history_instance.history_user_id is None and actor.user_id is not None:
        history_instance.history_user_id = actor.user_id
    if hasattr(history_instance, "history_hall_id") and history_instance.history_hall_id is None:
        history_instance.history_hall_id = actor.hall_id
    if hasattr(history_instance, "history_channel") and not history_instance.history_channel:
        history_instance.history_channel = actor.channel
    if not history_instance.history_change_reason and actor.reason:
        history_instance.history_change_reason = actor.reason[:100]
