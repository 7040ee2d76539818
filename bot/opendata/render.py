"""HTML of the public page and its search: every text from the catalog, every value escaped.

The page works without JavaScript: figures, the trend (inline SVG, bot/opendata/chart.py),
the list of the latest public reports and the search are plain HTML; the map is added by
static/public.js when Leaflet loads. No inline script or style: the Content-Security-Policy
allows 'self' only (and the tile host for images).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlencode

from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Markup, Translator
from bot.core.lifecycle import Verdict
from bot.core.stats import Stage, Tally
from bot.opendata.chart import TrendBar, trend_svg
from bot.opendata.figures import PublicFigures
from bot.reports.tables import days, plain, rate
from storage.publication import PUBLISHED_STATUSES, PublishedReport

LIST_TEXT_CHARS = 160


def escape(text: object) -> str:
    """Text for element content or a quoted attribute."""
    return html.escape(str(text), quote=True)


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


class Words:
    """The catalog in one language, for HTML (escaped) and for attributes and JSON (plain)."""

    def __init__(self, translator: Translator, lang: str, calendar: WorkingCalendar) -> None:
        self.translator = translator
        self.lang = lang
        self.calendar = calendar

    def __call__(self, key: str, /, **values: object) -> Markup:
        """Catalog text as HTML; plain-str values escaped."""
        return self.translator(self.lang, key, **values)

    def plain(self, key: str, /, **values: object) -> str:
        """Catalog text without markup (attributes, JSON)."""
        return plain(self.translator, self.lang, key, **values)

    def status(self, status: str) -> str:
        """A status's label (the /stats catalog's)."""
        return self.plain(f"stats.status.{status}")

    def category(self, report: PublishedReport) -> str:
        """A report's category in this language."""
        return report.category_name_en if self.lang == "en" else report.category_name_id

    def day(self, day: date) -> str:
        """``30 Nov 2026``."""
        return f"{day.day} {self.plain(f'public.month.{day.month}')} {day.year}"

    def moment(self, moment: datetime) -> str:
        """A moment in the local timezone: ``30 Nov 2026 09:00 WIB``."""
        local = self.calendar.local(moment)
        return f"{self.day(local.date())} {local:%H:%M} {local.tzname() or ''}".rstrip()


def page_url(path: str, lang: str, **query: str) -> str:
    """A page's address with its language."""
    return f"{path}?{urlencode({**query, 'lang': lang})}"


@dataclass(frozen=True)
class MapSettings:
    """What the map needs besides its points."""

    leaflet: bool
    tiles_url: str
    attribution: str


def document(
    words: Words, *, title: str, body: str, map_settings: MapSettings, here: Callable[[str], str]
) -> str:
    """The whole page around ``body``; ``here(lang)`` is this page in another language."""
    languages = " · ".join(
        f'<span aria-current="true">{words(f"public.language_{lang}")}</span>'
        if lang == words.lang
        else f'<a href="{escape(here(lang))}" hreflang="{lang}" lang="{lang}" '
        f'data-lang="{lang}">{words(f"public.language_{lang}")}</a>'
        for lang in ("id", "en")
    )
    leaflet = map_settings.leaflet
    return "".join(
        [
            f'<!doctype html>\n<html lang="{escape(words.lang)}"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            '<link rel="stylesheet" href="/public/leaflet/leaflet.css">' if leaflet else "",
            '<link rel="stylesheet" href="/public/static/public.css"></head><body>',
            f'<a class="skip" href="#main">{words("public.skip")}</a>',
            f'<header><h1><a href="{escape(page_url("/public/", words.lang))}">',
            f'{words("public.title")}</a></h1><nav class="languages">{languages}</nav></header>',
            f'<main id="main">{body}</main>',
            f"<footer><p>{words('public.privacy')}</p></footer>",
            '<script src="/public/leaflet/leaflet.js"></script>' if leaflet else "",
            '<script src="/public/static/public.js"></script></body></html>',
        ]
    )


def search_form(words: Words, code: str = "") -> str:
    """The tracking-code form (a GET, so it works without JavaScript)."""
    return (
        f'<section id="search" aria-labelledby="search-title">'
        f'<h2 id="search-title">{words("public.search.title")}</h2>'
        f'<form action="/public/search" method="get" role="search">'
        f'<label for="code">{words("public.search.label")}</label> '
        f'<input id="code" name="code" value="{escape(code)}" maxlength="40" '
        f'autocomplete="off" placeholder="{escape(words.plain("public.search.placeholder"))}">'
        f'<input type="hidden" name="lang" value="{escape(words.lang)}"> '
        f'<button type="submit">{words("public.search.button")}</button></form></section>'
    )


def _share(words: Words, tally: Tally, stage: Stage) -> str:
    counted = tally.met[stage] + tally.missed[stage]
    if not counted:
        return str(words("public.none"))
    return str(
        words(
            "public.figures.share",
            rate=rate(tally.compliance_rate(stage)),
            met=tally.met[stage],
            counted=counted,
        )
    )


def _agency_row(words: Words, name: str, tally: Tally, *, city: bool = False) -> str:
    none = str(words("public.none"))
    rating = tally.mean_rating
    cells = [
        str(tally.total),
        _share(words, tally, Stage.VERIFY),
        _share(words, tally, Stage.FIRST_RESPONSE),
        days(tally.median(Stage.COMPLETION), none),
        str(tally.verdicts[Verdict.FIXED]),
        str(tally.verdicts[Verdict.PARTLY]),
        str(tally.verdicts[Verdict.NOT_FIXED]),
        none if rating is None else f"{rating:.1f}",
    ]
    tag = ' class="city"' if city else ""
    return (
        f'<tr{tag}><th scope="row">{escape(name)}</th>'
        + "".join(f"<td>{cell}</td>" for cell in cells)
        + "</tr>"
    )


def figures_section(words: Words, figures: PublicFigures, cache_minutes: int) -> str:
    """The per-agency table with the city's row, the period and when it was computed."""
    headers = [
        "agency",
        "received",
        "verified",
        "followed_up",
        "resolution",
        "fixed",
        "partly",
        "not_fixed",
        "rating",
    ]
    head = "".join(f'<th scope="col">{words(f"public.figures.{key}")}</th>' for key in headers)
    rows = [
        _agency_row(words, figures.names.agency(agency_id, "?"), figures.agency(agency_id))
        for agency_id in figures.agency_ids()
    ]
    rows.append(
        _agency_row(words, words.plain("public.figures.city"), figures.evaluation.city, city=True)
    )
    period = figures.period
    first, last = words.day(period.first_day), words.day(period.last_day)
    return (
        f'<section id="figures" aria-labelledby="figures-title">'
        f'<h2 id="figures-title">{words("public.figures.title")}</h2>'
        f'<p class="period">{words("public.period", first=first, last=last)}'
        f' <span id="computed-at" data-computed="{escape(figures.computed_at.isoformat())}">'
        f"{words('public.computed', time=words.moment(figures.computed_at), minutes=cache_minutes)}"
        f"</span></p>"
        f'<div class="scroll"><table id="agencies"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        f'<p class="note">{words("public.figures.city_note")}</p></section>'
    )


def trend_section(words: Words, figures: PublicFigures) -> str:
    """The monthly chart and the same figures as a table."""
    statuses = {status: words.status(status) for status in PUBLISHED_STATUSES}
    statuses["rejected"] = words.status("rejected")
    bars = [
        TrendBar(
            f"{words.plain(f'public.month.{m.first_day.month}')} {m.first_day:%y}",
            dict(m.tally.by_status),
        )
        for m in figures.months
    ]
    svg = trend_svg(bars, title=words.plain("public.trend.chart"), statuses=statuses)
    none = str(words("public.none"))
    rows = "".join(
        f'<tr><th scope="row">{escape(words.plain(f"public.month.{m.first_day.month}"))} '
        f"{m.first_day.year}</th><td>{m.tally.total}</td>"
        f"<td>{_share(words, m.tally, Stage.FIRST_RESPONSE)}</td>"
        f"<td>{days(m.tally.median(Stage.COMPLETION), none)}</td></tr>"
        for m in figures.months
    )
    head = "".join(
        f'<th scope="col">{words(f"public.trend.{key}")}</th>'
        for key in ("month", "received", "followed_up", "resolution")
    )
    return (
        f'<section id="trend" aria-labelledby="trend-heading">'
        f'<h2 id="trend-heading">{words("public.trend.title")}</h2>'
        f'<figure class="chart">{svg}'
        f"<figcaption>{words('public.trend.chart')}</figcaption></figure>"
        f'<div class="scroll"><table id="months"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div></section>"
    )


def map_section(words: Words, reports: Sequence[PublishedReport], settings: MapSettings) -> str:
    """The map's box and filters; public.js fills it from the JSON endpoint."""
    categories = sorted({(r.category_code, words.category(r)) for r in reports}, key=lambda c: c[1])
    all_label = words("public.map.all")
    category_options = "".join(
        f'<option value="{escape(code)}">{escape(name)}</option>' for code, name in categories
    )
    status_options = "".join(
        f'<option value="{escape(s)}">{escape(words.status(s))}</option>'
        for s in PUBLISHED_STATUSES
    )
    data = {
        "points": page_url("/public/reports.json", words.lang),
        "tiles": settings.tiles_url,
        "attribution": settings.attribution,
        "empty": words.plain("public.map.no_points"),
        "shown": words.plain("public.map.shown", count="{count}"),
        "details": words.plain("public.map.details"),
        "loading": words.plain("public.map.loading"),
    }
    attributes = " ".join(f'data-{key}="{escape(value)}"' for key, value in data.items())
    return (
        f'<section id="map-section" aria-labelledby="map-title">'
        f'<h2 id="map-title">{words("public.map.title")}</h2>'
        f'<div class="filters"><label>{words("public.map.category")} '
        f'<select id="filter-category"><option value="">{all_label}</option>'
        f"{category_options}</select></label> "
        f'<label>{words("public.map.status")} <select id="filter-status">'
        f'<option value="">{all_label}</option>{status_options}</select></label> '
        f'<output id="map-count" aria-live="polite"></output></div>'
        f'<div id="map" {attributes}><p class="map-note">{words("public.map.unavailable")}</p>'
        f"</div></section>"
    )


def reports_section(words: Words, reports: Sequence[PublishedReport], limit: int) -> str:
    """The latest published reports as a list (the map's content without the map)."""
    if not reports:
        items = f'<p class="empty">{words("public.list.empty")}</p>'
    else:
        none = str(words("public.none"))
        rows = []
        for report in reports[:limit]:
            place = report.address or report.district
            link = page_url("/public/search", words.lang, code=report.tracking_code)
            rows.append(
                f'<tr data-code="{escape(report.tracking_code)}">'
                f'<td><a href="{escape(link)}">{escape(report.tracking_code)}</a></td>'
                f"<td>{escape(words.category(report))}</td>"
                f"<td>{escape(words.status(report.status))}</td>"
                f"<td>{escape(words.day(words.calendar.local(report.submitted_at).date()))}</td>"
                f"<td>{escape(place) if place else none}</td>"
                f'<td class="text">{escape(shorten(report.description, LIST_TEXT_CHARS))}</td></tr>'
            )
        head = "".join(
            f'<th scope="col">{words(f"public.list.{key}")}</th>'
            for key in ("code", "category", "status", "submitted", "place")
        )
        items = (
            f'<div class="scroll"><table id="reports-list"><thead><tr>{head}'
            f'<th scope="col">{words("public.search.description")}</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    return (
        f'<section id="reports" aria-labelledby="reports-title">'
        f'<h2 id="reports-title">{words("public.list.title")}</h2>{items}</section>'
    )


def home_body(
    words: Words,
    figures: PublicFigures,
    reports: Sequence[PublishedReport],
    *,
    map_settings: MapSettings,
    cache_minutes: int,
    list_limit: int,
) -> str:
    """The transparency page's content."""
    return "".join(
        [
            f'<p class="intro">{words("public.intro")}</p>',
            search_form(words),
            figures_section(words, figures, cache_minutes),
            trend_section(words, figures),
            map_section(words, reports, map_settings),
            reports_section(words, reports, list_limit),
        ]
    )


@dataclass(frozen=True)
class HistoryEntry:
    """One citizen-visible step: when, and its label in every language (bot/casework/history)."""

    at: datetime
    labels: dict[str, Markup]


@dataclass(frozen=True)
class SearchFound:
    """A published report and its citizen-visible history."""

    report: PublishedReport
    history: list[HistoryEntry]


def search_body(words: Words, found: SearchFound | None) -> str:
    """The search form and the result: the report and its history, or "not found"."""
    home = escape(page_url("/public/", words.lang))
    back = f'<p><a href="{home}">{words("public.search.back")}</a></p>'
    if found is None:
        # The code is not echoed: the answer to a confidential, unknown or malformed code is
        # the same page, byte for byte.
        result = (
            f'<p id="not-found" class="not-found" role="status">'
            f"{words('public.search.not_found')}</p>"
        )
        return search_form(words) + result + back
    report = found.report
    none = str(words("public.none"))
    place = ", ".join(p for p in (report.address, report.district) if p) or none
    facts = [
        ("category", escape(words.category(report))),
        ("agency", escape(report.agency_name) if report.agency_name else none),
        ("status", escape(words.status(report.status))),
        ("submitted", escape(words.moment(report.submitted_at))),
        ("updated", escape(words.moment(report.updated_at))),
        ("place", escape(place)),
        ("description", escape(report.description)),
    ]
    listed = "".join(f"<dt>{words(f'public.search.{k}')}</dt><dd>{v}</dd>" for k, v in facts)
    steps = "".join(
        f'<li><time datetime="{escape(entry.at.isoformat())}">{escape(words.moment(entry.at))}'
        f"</time> {entry.labels.get(words.lang) or next(iter(entry.labels.values()))}</li>"
        for entry in found.history
    )
    return (
        search_form(words, report.tracking_code)
        + f'<article id="result" data-code="{escape(report.tracking_code)}">'
        f"<h2>{words('public.search.result', code=report.tracking_code)}</h2><dl>{listed}</dl>"
        f'<h3>{words("public.search.history")}</h3><ol id="history">{steps}</ol></article>' + back
    )
