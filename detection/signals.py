"""Signals the detection app sends; other apps (alerts) receive them. Detection imports neither.

`points_stored` is sent inside the ingest transaction with detector, scored (the batch and its
is_anomaly flags), ids and times, so a receiver's writes commit or roll back with the points.
"""

from django.dispatch import Signal

points_stored = Signal()
