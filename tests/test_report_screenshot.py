"""The exception report rendered in a real headless browser (Debian's chromium), saved as a PNG
a person can look at (var/screenshots/), and checked to show the table and the chart."""
from datetime import date
from pathlib import Path

import pandas as pd
from PIL import Image

from demo.screenshot import screenshot
from pipeline.context import PROJECT_ROOT
from transforms.funnel import engagement_funnel, funnel_chart_png
from transforms.report import build_exception_report


def test_report_renders_in_chromium(tmp_path):
    rows = pd.DataFrame([dict(
        referral_ref=f"DR-SS2026{i:06d}", stop_ref=f"SS2026{i:06d}", person_id=f"P{i}", pnc_id=None,
        forename="Zoë", surname=f"O'Brien-{i}", date_of_birth=date(2010, 1, 1), area="Reading",
        stop_date=date(2026, 2, 1), yot_name="Reading", reason="no_first_contact",
        deadline=date(2026, 2, 13), yot_status="referred", yot_case_id=f"YC{i}",
        evidence="Referred 2026-01-30; no first contact by 2026-02-13 (10 working days)") for i in range(6)])
    engagement = pd.DataFrame({"area": ["Reading"] * 10 + ["West Berkshire"] * 6,
                               "state": ["completed"] * 3 + ["engaged"] * 2 + ["no_first_contact"] * 5
                               + ["declined"] * 2 + ["engaged"] * 4})
    report = build_exception_report(
        rows, group_id="west", group_name="Western LPAs", night=date(2026, 2, 20),
        subject_template="Not engaging ({group}, {night})", summary={"newly escalated": 6},
        stale_yots={"Slough": None}, chart_png=funnel_chart_png(engagement_funnel(engagement), "Funnel"))
    html = tmp_path / "exceptions_west.html"
    html.write_text(report.html_file, encoding="utf-8")
    (tmp_path / report.chart_file_name).write_bytes(report.chart_png)
    out = screenshot(html, PROJECT_ROOT / "var" / "screenshots" / "exception_report.png")
    image = Image.open(out).convert("RGB")
    assert image.size == (1400, 1800)
    # the dark table header and the chart's coloured bars are on the page, not a blank render
    colours = {c for _, c in image.getcolors(maxcolors=1 << 20)}
    assert (11, 12, 12) in colours                       # table header #0b0c0c
    assert any(abs(r - 29) < 8 and abs(g - 112) < 8 and abs(b - 184) < 8 for r, g, b in colours)  # bars
