"""Report periods. PRODUCT.md: "All periods are in the organisation's time zone; a period [start,
end] includes both dates." A period's instants run from its first day's local midnight up to, not
including, the local midnight after its last day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from django.utils import timezone


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("end is before start")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime, datetime]:
        """[first instant, first instant after) in TIME_ZONE."""
        tz = timezone.get_default_timezone()
        begin = timezone.make_aware(datetime.combine(self.start, time.min), tz)
        after = timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min), tz)
        return begin, after

    def previous(self) -> Period:
        """The period of equal length that ends the day before this one starts."""
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end)

    @property
    def months(self) -> float:
        """Its length in calendar months, for monthly costs and rates: each month it touches counts
        for the share of its days inside the period, so a whole month is exactly 1 and a quarter
        exactly 3 (an average month of 30.44 days would make January's sales cost 1.018 months')."""
        total, day = Fraction(0), self.start
        while day <= self.end:
            last = min(month_end(day), self.end)
            total += Fraction((last - day).days + 1, month_end(day).day)
            day = last + timedelta(days=1)
        return float(total)


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())  # ISO weeks start on Monday


def grain_periods(grain: str, start: date, end: date) -> list[Period]:
    """The whole day, week or month periods that touch [start, end]."""
    periods = []
    if grain == "day":
        day = start
        while day <= end:
            periods.append(Period(day, day))
            day += timedelta(days=1)
    elif grain == "week":
        day = week_start(start)
        while day <= end:
            periods.append(Period(day, day + timedelta(days=6)))
            day += timedelta(days=7)
    elif grain == "month":
        day = month_start(start)
        while day <= end:
            periods.append(Period(day, month_end(day)))
            day = month_end(day) + timedelta(days=1)
    else:
        raise ValueError(f"unknown grain {grain!r}")
    return periods
