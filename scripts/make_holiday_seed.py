"""Write the calendar and label seeds from the generator's single definitions.

    .venv/bin/python scripts/make_holiday_seed.py [--check]

- ``seeds/public_holidays.csv`` from the ``holidays`` package (US, GB-England, HK, SG, IN;
  2023–2026), so dbt's business-hours calendar equals the generator's;
- ``seeds/country_calendars.csv`` (fixed offsets, 09:00–17:00 business day);
- the label maps (``*_map.csv``, keyed on ``lower(trim(raw label))``) and ``currencies.csv``
  from ``analysis_py.generate.labels``.

The files are checked in; ``--check`` exits non-zero if any would change (used by the tests
to catch a ``holidays`` upgrade that moves a date).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis_py.generate import calendar as cal  # noqa: E402
from analysis_py.generate import labels  # noqa: E402


def _csv(header: list[str], rows: list[tuple]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def seed_files() -> dict[str, str]:
    files = {
        "public_holidays.csv": _csv(
            ["country", "holiday_date", "holiday_name"],
            [(c, d.isoformat(), name) for c, d, name in cal.public_holidays()],
        ),
        "country_calendars.csv": _csv(
            [
                "country",
                "region",
                "utc_offset_minutes",
                "business_day_start_hour",
                "business_day_end_hour",
            ],
            [
                (
                    c,
                    cal.REGION[c],
                    cal.UTC_OFFSET_MINUTES[c],
                    cal.BUSINESS_DAY_START_HOUR,
                    cal.BUSINESS_DAY_END_HOUR,
                )
                for c in cal.COUNTRIES
            ],
        ),
        "currencies.csv": _csv(
            ["currency", "minor_digits"],
            [(c, labels.MINOR_DIGITS[c]) for c in labels.CURRENCIES],
        ),
    }
    for fname, (column, variants) in labels.SEED_MAPS.items():
        rows = {}
        for canon, spellings in variants.items():
            for s in spellings:
                rows.setdefault(s.strip().lower(), canon)
        files[fname] = _csv(["raw_label", column], sorted(rows.items()))
    return files


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, text in seed_files().items():
        path = ROOT / "seeds" / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not check:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote seeds/{name}")
    if check and stale:
        print(f"stale seeds: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
