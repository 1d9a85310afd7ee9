"""Signals the detection app sends; other apps (alerts) receive them. Detection imports neither.

`points_stored` is sent inside the ingest transaction with detector, scored (the batch and its
is_anomaly flags), ids and times, so a receiver's writes commit or roll back with the points.
While no receiver is connected, a lone point is stored by one statement that commits by itself
(detection/services/scoring.py); connecting one gives every store its transaction again.
"""

from django.dispatch import Signal

points_stored = Signal()
