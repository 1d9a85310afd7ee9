"""Small formatting filters of the dashboard templates."""

import json
import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from detection.engine.explain import fmt

register = template.Library()

_TICKS = re.compile(r"`([^`]+)`")


@register.filter
def reason(text: str) -> str:
    """An explanation sentence with its `feature` names set as code."""
    return mark_safe(_TICKS.sub(r"<code>\1</code>", escape(text or "")))


@register.filter
def num(value) -> str:
    """A short human number (9.3, 0.0012, 1.2e+07), as the explanations print them."""
    if value is None or isinstance(value, str):
        return "–" if value is None else value
    return fmt(float(value))


@register.filter
def percent(value, digits: int = 0) -> str:
    """0.1234 -> "12%"; None -> "–"."""
    if value is None:
        return "–"
    return f"{value * 100:.{int(digits)}f}%"


@register.filter
def rate_text(rate: float) -> str:
    """A false-alarm rate as people say it: 0.01 -> "1 in 100"."""
    if not rate:
        return "–"
    return f"1 in {round(1 / rate):,}"


@register.filter
def thousands(value) -> str:
    """12345 -> "12,345"."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def bar_width(value, busiest) -> str:
    """The width of a 120-wide bar for `value` out of `busiest`."""
    try:
        share = float(value) / float(busiest) if busiest else 0.0
    except (TypeError, ValueError):
        share = 0.0
    return f"{max(0.0, min(1.0, share)) * 120:.1f}"


@register.simple_tag
def label_buttons() -> list[tuple[str, str]]:
    """The verdicts a person gives a flagged point (ThirdEye's words)."""
    return [("anomaly", "Anomaly"), ("expected", "Expected"), ("not_anomaly", "Not anomaly")]


@register.filter
def to_json(value) -> str:
    """JSON for a data-* attribute (escaped by the template like any text). htmx drops <script>
    blocks from swapped content, so partials carry their data this way."""
    return json.dumps(value, separators=(",", ":"))
