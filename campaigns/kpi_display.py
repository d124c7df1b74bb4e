"""KPI values as the campaign pages show them: formatted by unit, and a null explained (a ratio
whose denominator is zero or unknown is null, PRODUCT.md). The numbers themselves come from
`reports.kpis`; nothing here computes a KPI."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.formats import number_format

CURRENCY = "€"
DASH = "—"
WITHHELD = ("Marketing figures (spend, visitors, clicks) are shown to those who see every lead; "
            "your numbers count your own leads only.")

# What a KPI's denominator (or figure numerator) counts, in words.
MEASURE_WORDS = {
    "leads": "leads created",
    "visitors": "visitors",
    "mql": "MQLs",
    "sql": "SQLs",
    "opportunity": "opportunities",
    "won": "customers won",
    "cohort_mql": "MQLs",
    "cohort_sql": "SQLs",
    "cohort_opportunity": "opportunities",
    "ctr_den": "impressions",
    "cpc_den": "clicks",
    "spend": "spend",
    "acquisition_cost": "spend",
    "ctr_num": "clicks",
    "cpc_num": "spend",
}


@dataclass(frozen=True)
class Shown:
    key: str
    label: str
    value: object
    text: str
    why_null: str = ""

    @property
    def is_null(self) -> bool:
        return self.value is None


def kpi_text(value, unit: str) -> str:
    if value is None:
        return DASH
    if unit == "currency":
        return f"{CURRENCY}{number_format(value, 2, force_grouping=True)}"
    if unit == "ratio":
        return f"{number_format(value * 100, 1)}%"
    if unit == "count":
        return number_format(value, 0, force_grouping=True)
    if unit == "days":
        return f"{number_format(value, 1)} d"
    if unit == "seconds":
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes}m {seconds:02d}s"
    return number_format(value, 2)


def why_null(row: dict, kpi, *, all_leads: bool) -> str:
    """Why a KPI is null: no figures for the cut, figures withheld from a reader who sees only
    their own leads, or a zero denominator."""
    if row["value"] is not None:
        return ""
    numerator, denominator = row["numerator"], row["denominator"]
    figure_part = _is_figure(kpi.numerator) and numerator is None
    figure_part = figure_part or (_is_figure(kpi.denominator) and denominator is None)
    if figure_part and not all_leads:
        return WITHHELD
    if figure_part:
        return "No marketing figures for this campaign in the period."
    if kpi.denominator and denominator == 0:
        words = MEASURE_WORDS.get(kpi.denominator, kpi.denominator.replace("_", " "))
        return f"No {words} in the period: a ratio over zero is not a number."
    return "Not enough data in the period."


def _is_figure(measure: str | None) -> bool:
    return measure in {"visitors", "spend", "acquisition_cost"} or bool(
        measure and measure.endswith(("_num", "_den"))
    )


def kpis_shown(rows: list[dict], *, all_leads: bool) -> dict[str, Shown]:
    """{key: Shown} for the rows of `kpis_compute`."""
    from reports.kpis import KPIS

    out = {}
    for row in rows:
        kpi = KPIS[row["key"]]
        out[row["key"]] = Shown(
            key=row["key"], label=row["label"], value=row["value"],
            text=kpi_text(row["value"], row["unit"]),
            why_null=why_null(row, kpi, all_leads=all_leads),
        )
    # Spend is a measure, not a KPI of its own: CPL's numerator.
    cpl = next((row for row in rows if row["key"] == "cpl"), None)
    if cpl is not None:
        spend = cpl["numerator"]
        out["spend"] = Shown(
            key="spend", label="Spend", value=spend, text=kpi_text(spend, "currency"),
            why_null="" if spend is not None else why_null(
                {"value": None, "numerator": None, "denominator": 1}, KPIS["cpl"],
                all_leads=all_leads),
        )
    return out
