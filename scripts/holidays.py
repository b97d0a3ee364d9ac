#!/usr/bin/env python3
"""Generate shipgate's holiday calendars, config/holidays/<country>.ics, for 2026-2035.

The data comes from the `holidays` package on PyPI (version pinned in
scripts/requirements.txt). Run from the repository root:

    pip install -r scripts/requirements.txt && python3 scripts/holidays.py

Each file is a VCALENDAR with one all-day VEVENT per holiday date, sorted by date.
UIDs (`<country>-<yyyymmdd>@shipgate`) and DTSTAMP are fixed so that running the
script again with the same package version gives byte-identical files, and a diff
after a version bump shows only real changes in the data.

Scope per country, as shipgate's issue 3 asks:
- GB: the package's default, i.e. no subdivision: only holidays observed in the whole
  UK (England's Easter Monday and the August bank holiday are not in it, because
  Scotland's dates differ).
- DE: national holidays only (no state subdivision).
- IN: the package's default (no subdivision, public category).
- CA, AU, BR: national (no subdivision).
- US, FR, JP: national (no subdivision).
Names are the package's en_US translation where it offers one, otherwise its default
language.
"""

import argparse
import datetime
import pathlib
import sys

# This script is itself named holidays.py, and Python puts its folder first on the
# import path, so `import holidays` would import the script; drop that folder first.
_here = str(pathlib.Path(__file__).resolve().parent)
sys.path = [p for p in sys.path if p and str(pathlib.Path(p).resolve()) != _here]

import holidays  # noqa: E402

COUNTRIES = ["us", "gb", "de", "fr", "in", "jp", "ca", "au", "br"]
FIRST_YEAR = 2026
LAST_YEAR = 2035
# Fixed so that regenerating gives identical files; it is the day these calendars
# were first generated, not the time of the run.
DTSTAMP = "20261127T000000Z"
PRODID = "-//shipgate//holidays//EN"


def escape_text(value: str) -> str:
    """Escape a TEXT value as RFC 5545 section 3.3.11 requires."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> list[str]:
    """Fold a content line at 75 octets (RFC 5545 section 3.1), never inside a UTF-8 character."""
    out = []
    current = ""
    for ch in line:
        if len((current + ch).encode("utf-8")) > 75:
            out.append(current)
            # Continuation lines start with a space, which counts towards their 75 octets.
            current = " "
        current += ch
    out.append(current)
    return out


def country_calendar(code: str) -> str:
    upper = code.upper()
    cls = holidays.country_holidays(upper).__class__
    language = "en_US" if "en_US" in getattr(cls, "supported_languages", ()) else None
    data = holidays.country_holidays(upper, years=range(FIRST_YEAR, LAST_YEAR + 1), language=language)

    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:Public holidays {upper} {FIRST_YEAR}-{LAST_YEAR}",
    ]
    for day, name in sorted(data.items()):
        end = day + datetime.timedelta(days=1)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{code}-{day:%Y%m%d}@shipgate",
            f"DTSTAMP:{DTSTAMP}",
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{end:%Y%m%d}",
            f"SUMMARY:{escape_text(name)}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    folded = [part for line in lines for part in fold(line)]
    # iCalendar lines end with CRLF.
    return "\r\n".join(folded) + "\r\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="config/holidays", help="directory to write <country>.ics into")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for code in COUNTRIES:
        path = out / f"{code}.ics"
        # newline="" keeps the CRLF line ends exactly as written.
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(country_calendar(code))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
