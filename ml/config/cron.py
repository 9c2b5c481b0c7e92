"""Validation of Quartz cron expressions, the schedule syntax Databricks jobs use.

Quartz has 6 or 7 fields: seconds minutes hours day-of-month month day-of-week [year],
and exactly one of day-of-month and day-of-week must be '?'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# day-of-month: L (last day), L-3 (third to last), LW, 15W (nearest weekday)
_LAST_OR_WEEKDAY = re.compile(r"L(-\d{1,2})?|LW|\d{1,2}W")
# day-of-week: 6L (last Friday of the month)
_LAST_DAY_OF_WEEK = re.compile(r"(\d|[A-Z]{3})L")
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    specials: str = ""  # special characters this field allows: ? and #


_FIELDS = (
    _Field("seconds", 0, 59),
    _Field("minutes", 0, 59),
    _Field("hours", 0, 23),
    _Field("day-of-month", 1, 31, specials="?"),
    _Field("month", 1, 12, tuple(_MONTHS)),
    _Field("day-of-week", 1, 7, tuple(_DAYS), specials="?#"),
    _Field("year", 1970, 2199),
)


def _value(token: str, field: _Field) -> int:
    upper = token.upper()
    if upper in field.names:
        return field.names.index(upper) + field.low
    if not token.isdigit():
        raise ValueError(f"{field.name} field has an invalid value '{token}'")
    number = int(token)
    if not field.low <= number <= field.high:
        raise ValueError(f"{field.name} value {number} is outside {field.low}-{field.high}")
    return number


def _check_part(part: str, field: _Field) -> None:
    if part == "*":
        return
    if part == "?":
        if "?" not in field.specials:
            raise ValueError(f"'?' is only allowed in day-of-month or day-of-week, not {field.name}")
        return
    if "/" in part:
        base, _, step = part.partition("/")
        if not step.isdigit() or int(step) == 0:
            raise ValueError(f"{field.name} field has an invalid step '{part}'")
        if base not in ("*", ""):
            _check_part(base, field)
        return
    if "#" in part:
        if "#" not in field.specials:
            raise ValueError(f"'#' is only allowed in day-of-week, not {field.name}")
        day, _, nth = part.partition("#")
        _value(day, field)
        if not (nth.isdigit() and 1 <= int(nth) <= 5):
            raise ValueError(f"{field.name} field has an invalid '#' occurrence '{part}'")
        return
    upper = part.upper()
    if field.name == "day-of-month" and _LAST_OR_WEEKDAY.fullmatch(upper):
        digits = re.sub(r"\D", "", upper)
        if digits:
            _value(digits, field)
        return
    if field.name == "day-of-week" and (upper == "L" or _LAST_DAY_OF_WEEK.fullmatch(upper)):
        if upper != "L":
            _value(upper[:-1], field)
        return
    if "-" in part:
        start, _, end = part.partition("-")
        if _value(start, field) > _value(end, field):
            raise ValueError(f"{field.name} range '{part}' runs backwards")
        return
    _value(part, field)


def validate_quartz(expression: str) -> str:
    """Return the expression unchanged, or raise ValueError saying what is wrong."""
    fields = expression.split()
    if len(fields) not in (6, 7):
        raise ValueError(
            f"'{expression}' is not a Quartz cron expression: expected 6 or 7 fields "
            "(sec min hour day-of-month month day-of-week [year]), "
            f"got {len(fields)}"
        )
    for text, field in zip(fields, _FIELDS, strict=False):
        for part in text.split(","):
            if not part:
                raise ValueError(f"{field.name} field has an empty list item in '{text}'")
            _check_part(part, field)
    day_of_month, day_of_week = fields[3], fields[5]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(f"'{expression}': exactly one of day-of-month and day-of-week must be '?'")
    return expression
