"""The console's field-precision page: the figures per model version, ISO week and recommended rung, and a chart of
precision per week (with its 95% interval as error bars) over the flags per week, drawn as inline SVG."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.console.views import console_user, templates
from distillguard.api.deps import get_session
from distillguard.api.precision.service import Figures, GroupBy, flags, summarise
from distillguard.api.restrictions.service import hidden_from
from distillguard.api.types import utcnow

router = APIRouter(prefix="/console", include_in_schema=False)

SLOT = 72  # chart units a week takes
LEFT = 40  # chart units left of the first week (the axis labels)
TOP = 14  # chart units above the precision panel
PRECISION_HEIGHT = 150  # chart units of precision 0..1
GAP = 26  # chart units between the precision and the flags panel
FLAGS_HEIGHT = 70  # chart units of the busiest week's flags
LABELS = 18  # chart units below the flags panel (the week labels)
BAR_SHARE = 0.6  # of a slot, a flags bar's width
CAP = 6  # chart units of an error bar's caps
MINUTE, HOUR, DAY = 60, 3600, 86400


def duration(seconds: float | None) -> str:
    """``seconds`` as an analyst reads them: 45 s, 12 min, 3.5 h, 2.1 d (an en dash for none)."""
    if seconds is None:
        return "–"
    if seconds < MINUTE:
        return f"{seconds:.0f} s"
    if seconds < HOUR:
        return f"{seconds / MINUTE:.0f} min"
    if seconds < DAY:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / DAY:.1f} d"


def _y(share: float) -> float:
    return round(TOP + PRECISION_HEIGHT * (1 - share), 1)


def precision_chart(weeks: list[Figures]) -> dict:
    """Chart geometry: per week its centre, its precision point and interval (None when nothing was reviewed) and
    its flags bar; the axis lines and the lines through the precision points of consecutive weeks (a week with nothing
    reviewed breaks the line)."""
    busiest = max((w.flags for w in weeks), default=0)
    base = TOP + PRECISION_HEIGHT + GAP + FLAGS_HEIGHT
    slots: list[dict] = []
    lines: list[list[str]] = [[]]
    for i, w in enumerate(weeks):
        x = LEFT + i * SLOT + SLOT / 2
        height = round(FLAGS_HEIGHT * w.flags / busiest, 1) if busiest else 0.0
        point = None
        if w.precision is not None and w.interval_low is not None and w.interval_high is not None:
            point = {"y": _y(w.precision), "low": _y(w.interval_low), "high": _y(w.interval_high)}
            lines[-1].append(f"{x},{point['y']}")
        elif lines[-1]:
            lines.append([])
        slots.append({"x": x, "week": w.key, "figures": w, "point": point, "bar_y": base - height, "bar_h": height})
    return {
        "slots": slots,
        "lines": [" ".join(points) for points in lines if len(points) > 1],
        "busiest": busiest,
        "width": LEFT + len(weeks) * SLOT + LEFT // 2,
        "height": base + LABELS,
        "left": LEFT,
        "top": TOP,
        "mid": _y(0.5),
        "zero": _y(0.0),
        "base": base,
        "flags_top": base - FLAGS_HEIGHT,
        "bar": SLOT * BAR_SHARE,
        "cap": CAP,
    }


@router.get("/precision", response_class=HTMLResponse)
def precision_page(
    request: Request, session: Session = Depends(get_session), who: Principal = Depends(console_user)
) -> Response:
    """Field precision of every flag the caller may see, per model, per week (with the chart) and per rung."""
    rows = flags(session, hidden_from(session, who))
    now = utcnow()
    reports = {g: summarise(rows, g, now) for g in GroupBy}
    context = {
        "who": who,
        "reports": reports,
        "chart": precision_chart(reports[GroupBy.week].groups),
        "duration": duration,
        "as_of": now,
    }
    return templates.TemplateResponse(request, "precision.html", context)
