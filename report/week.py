"""ISO weeks as report windows (pure: no IO, no clock).

A week is the half-open UTC window [Monday 00:00, next Monday 00:00). ``2026-W47`` is ISO 8601
week 47 of ISO year 2026 (``date.fromisocalendar``); ISO week 1 is the week with the year's
first Thursday, so late-December and early-January dates may belong to the neighbouring year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

WEEK = timedelta(days=7)
_WEEK_RE = re.compile(r"(\d{4})-?[Ww](\d{1,2})")


@dataclass(frozen=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> "IsoWeek":
        """'2026-W47' (also '2026W47', '2026-w47'); ValueError naming the text otherwise."""
        m = _WEEK_RE.fullmatch(text.strip())
        if not m:
            raise ValueError(f"not an ISO week like 2026-W47: {text!r}")
        year, week = int(m.group(1)), int(m.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"{year} has no ISO week {week}") from None
        return cls(year, week)

    @classmethod
    def containing(cls, ts: datetime) -> "IsoWeek":
        year, week, _ = ts.isocalendar()
        return cls(year, week)

    @property
    def start(self) -> datetime:
        """Monday 00:00 UTC (naive)."""
        return datetime.combine(date.fromisocalendar(self.year, self.week, 1), datetime.min.time())

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 UTC: the window is [start, end)."""
        return self.start + WEEK

    def previous(self) -> "IsoWeek":
        return IsoWeek.containing(self.start - WEEK)

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    def label(self) -> str:
        """'Mon 9 Nov – Sun 15 Nov 2026' (the days of the week, UTC)."""
        last = self.end - timedelta(days=1)
        return f"Mon {self.start.day} {self.start:%b} – Sun {last.day} {last:%b %Y}"


def monday_on_or_before(ts: datetime) -> datetime:
    day = datetime.combine(ts.date(), datetime.min.time())
    return day - timedelta(days=day.weekday())


def last_complete_week(first_ts: datetime, data_end: datetime) -> IsoWeek | None:
    """The latest ISO week wholly inside [first_ts, data_end), or None if there is none.

    data_end is exclusive: the start of the last step plus one step.
    """
    # The Monday on or before data_end starts a week that ends after data_end (or, when
    # data_end is that Monday's midnight, starts at it): the week before it is the candidate.
    start = monday_on_or_before(data_end) - WEEK
    return IsoWeek.containing(start) if start >= first_ts else None
