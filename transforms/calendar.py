"""Working days for engagement deadlines: weekends and bank holidays (England and Wales by default)."""
from __future__ import annotations

from datetime import date, timedelta
from functools import cached_property

import holidays


class WorkingCalendar:
    """Deadline arithmetic on the maintained `holidays` library's bank holiday list."""

    def __init__(self, country: str = "GB", subdivision: str | None = "ENG") -> None:
        self.country = country
        self.subdivision = subdivision

    @cached_property
    def _holidays(self) -> holidays.HolidayBase:
        return holidays.country_holidays(self.country, subdiv=self.subdivision)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays

    def add_working_days(self, start: date, days: int) -> date:
        """The date `days` working days after `start` (the start day itself does not count)."""
        current, remaining = start, days
        while remaining > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`."""
        count, current = 0, start
        while current < end:
            current += timedelta(days=1)
            count += self.is_working_day(current)
        return count
