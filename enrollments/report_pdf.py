"""The weekly report PDF, drawn with reportlab: platypus for the pages, reportlab.graphics for the chart.

`render_weekly_report_pdf(...)` takes plain values (no models) and returns the PDF bytes, so the
caller decides where they are stored. The same input gives the same bytes (reportlab's
`invariant` mode): re-generating a week whose figures did not change rewrites an identical file.

Layout, A4 portrait, as many pages as the table needs: the title with the ISO week and its
dates, the week's totals, a grouped horizontal bar chart of new enrollments and completions per
course with a legend (the CHART_MAX_COURSES busiest courses, so the bars stay legible), then a
table of every course's figures whose header row repeats on each page, and a totals row.

Untrusted text: course titles come from staff input. They are drawn as plain strings by the
certificate renderer's `certificates.pdf.draw_text`, in the table and beside the chart's bars
alike, never through `Paragraph`, which would parse `<b>` or `&amp;` as markup. It sets a title
in the Noto family, in any script, shaped (joined Arabic, right to left; conjuncts) as on a
certificate, and shrinks, then cuts, a title too wide for its place, so no title overflows the
chart or the table.
"""

import datetime
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.graphics import renderPDF
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, SimpleDocTemplate, Spacer, Table, TableStyle

from certificates.pdf import HELVETICA, HELVETICA_BOLD, MONTHS, draw_text

PAGE_SIZE = A4
MARGIN = 54  # 0.75 in: clear of what office printers cannot print
CONTENT_WIDTH = PAGE_SIZE[0] - 2 * MARGIN

INK = colors.Color(0.13, 0.13, 0.13)
GREY = colors.Color(0.4, 0.4, 0.4)
NAVY = colors.Color(0.12, 0.23, 0.37)
RULE = colors.Color(0.85, 0.87, 0.9)
STRIPE = colors.Color(0.96, 0.97, 0.98)
ENROLLMENTS_COLOUR = colors.Color(0.15, 0.5, 0.76)
COMPLETIONS_COLOUR = colors.Color(0.3, 0.65, 0.35)
SERIES = (("New enrollments", ENROLLMENTS_COLOUR), ("Completions", COMPLETIONS_COLOUR))

# Beyond this many courses the bars would be too thin to read; the table lists every course.
CHART_MAX_COURSES = 20
# Height of one course's pair of bars, gap included.
CHART_CATEGORY_HEIGHT = 22
# The chart's left part holds the course titles, right-aligned against the bars.
CHART_LABEL_WIDTH = 170
CHART_LABEL_SIZE = 8
CHART_LABEL_GAP = 6
# Room for the value printed after the longest bar.
CHART_RIGHT_PAD = 28
CHART_AXIS_HEIGHT = 18  # value-axis labels below the bars
CHART_LEGEND_HEIGHT = 22  # the legend above the bars
# A value axis needs few ticks: at most this many steps between 0 and its end.
CHART_MAX_STEPS = 6

NUMBER_COLUMN_WIDTH = 95
TABLE_FONT_SIZE = 9


@dataclass(frozen=True)
class CourseRow:
    title: str
    enrollments: int
    completions: int


def render_weekly_report_pdf(
    *, week_label: str, week_start: datetime.date, rows: Sequence[CourseRow], generated_at: datetime.datetime
) -> bytes:
    """The report for the week starting on Monday `week_start`, courses in the order given."""
    buffer = io.BytesIO()
    title = f"Weekly report {week_label}"
    document = SimpleDocTemplate(
        buffer,
        pagesize=PAGE_SIZE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title,
        author="LMS",
        subject="Enrollments and completions per course",
        invariant=1,
        pageCompression=1,
    )
    enrollments = sum(row.enrollments for row in rows)
    completions = sum(row.completions for row in rows)
    story: list[Flowable] = [
        TextLine(title, size=20, bold=True, colour=NAVY),
        TextLine(f"{_day(week_start)} to {_day(week_start + datetime.timedelta(days=6))} (UTC)", size=11, colour=GREY),
        Spacer(0, 10),
        TextLine(
            f"{enrollments} new enrollment{_s(enrollments)} and {completions} completion{_s(completions)} "
            f"in {len(rows)} course{_s(len(rows))}.",
            size=11,
        ),
        Spacer(0, 14),
    ]
    if rows:
        story.append(weekly_chart(rows[:CHART_MAX_COURSES], width=CONTENT_WIDTH))
        if len(rows) > CHART_MAX_COURSES:
            story.append(
                TextLine(
                    f"The chart shows the {CHART_MAX_COURSES} busiest of {len(rows)} courses; the table lists all.",
                    size=8,
                    colour=GREY,
                )
            )
        story += [Spacer(0, 16), figures_table(rows, width=CONTENT_WIDTH)]
    else:
        story.append(TextLine("No enrollments or completions this week.", size=11, colour=GREY))

    def footer(canvas: Canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(HELVETICA, 8)
        canvas.setFillColor(GREY)
        generated = f"generated {generated_at:%Y-%m-%d %H:%M} UTC"
        canvas.drawString(MARGIN, MARGIN / 2, f"LMS weekly report {week_label}, {generated}")
        canvas.drawRightString(PAGE_SIZE[0] - MARGIN, MARGIN / 2, f"page {doc.page}")
        canvas.restoreState()

    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


# --- Chart -----------------------------------------------------------------------------------


class WeeklyChart(Flowable):
    """The chart's drawing (bars, axes, legend), then the course titles beside the bars, drawn
    shaped on the page's canvas: reportlab's graphics can only draw plain strings."""

    def __init__(self, drawing: Drawing, labels: list[tuple[str, float]]):
        super().__init__()
        self.drawing = drawing
        self.labels = labels  # (course title, baseline), right-aligned at CHART_LABEL_WIDTH
        self.width, self.height = drawing.width, drawing.height

    def wrap(self, available_width, available_height):
        return self.width, self.height

    def draw(self):
        renderPDF.draw(self.drawing, self.canv, 0, 0)
        self.canv.setFillColor(INK)
        for title, baseline in self.labels:
            draw_text(
                self.canv,
                title,
                x=CHART_LABEL_WIDTH,
                y=baseline,
                size=CHART_LABEL_SIZE,
                align="right",
                max_width=CHART_LABEL_WIDTH,
            )


def weekly_chart(rows: Sequence[CourseRow], *, width: float) -> WeeklyChart:
    """A grouped horizontal bar chart, one pair of bars per course (top to bottom as given).

    The chart's data are `[enrollments per course, completions per course]` and its category
    names the course titles; the titles are drawn beside the bars by `WeeklyChart`, not by the
    axis, so that any script is shown shaped, in a font that has it.
    """
    chart_height = CHART_CATEGORY_HEIGHT * len(rows)
    drawing = Drawing(width, chart_height + CHART_AXIS_HEIGHT + CHART_LEGEND_HEIGHT)
    chart = HorizontalBarChart()
    chart.x = CHART_LABEL_WIDTH + CHART_LABEL_GAP
    chart.y = CHART_AXIS_HEIGHT
    chart.width = width - chart.x - CHART_RIGHT_PAD
    chart.height = chart_height
    chart.data = [tuple(row.enrollments for row in rows), tuple(row.completions for row in rows)]
    chart.categoryAxis.categoryNames = [row.title for row in rows]
    chart.categoryAxis.reverseDirection = 1  # first course at the top
    chart.reversePlotOrder = 1  # and within a course, the series top-down in legend order
    chart.categoryAxis.visibleLabels = 0
    chart.categoryAxis.visibleTicks = 0
    chart.categoryAxis.strokeColor = GREY
    top, step = _value_scale(max(max(chart.data[0]), max(chart.data[1])))
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, top, step
    chart.valueAxis.labelTextFormat = "%d"
    chart.valueAxis.labels.fontName = HELVETICA
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.strokeColor = GREY
    chart.valueAxis.visibleGrid = 1
    chart.valueAxis.gridStrokeColor = RULE
    chart.barWidth = 8
    chart.groupSpacing = 6
    chart.barSpacing = 0
    chart.barLabelFormat = "%d"
    chart.barLabels.fontName = HELVETICA
    chart.barLabels.fontSize = 7
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    for index, (_, colour) in enumerate(SERIES):
        chart.bars[index].fillColor = colour
        chart.bars[index].strokeColor = None
    drawing.add(chart, name="chart")

    band = chart_height / len(rows)
    labels = [
        (row.title, chart.y + chart_height - (index + 0.5) * band - CHART_LABEL_SIZE / 3)
        for index, row in enumerate(rows)
    ]

    legend = Legend()
    legend.colorNamePairs = [(colour, name) for name, colour in SERIES]
    legend.fontName = HELVETICA
    legend.fontSize = 8
    legend.alignment = "right"
    legend.columnMaximum = 1  # one entry per column: side by side
    legend.deltax = 90
    legend.dx = legend.dy = 8
    legend.boxAnchor = "nw"
    legend.x = chart.x
    legend.y = drawing.height - 4
    drawing.add(legend, name="legend")
    return WeeklyChart(drawing, labels)


def _value_scale(largest: int) -> tuple[int, int]:
    """(axis end, step) for counts up to `largest`: whole steps of 1, 2 or 5 x 10^n."""
    largest = max(largest, 1)
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            steps = math.ceil(largest / step)
            if steps <= CHART_MAX_STEPS:
                return steps * step, step
        magnitude *= 10


# --- Table -----------------------------------------------------------------------------------


def figures_table(rows: Sequence[CourseRow], *, width: float) -> Table:
    header = ["Course", "New enrollments", "Completions"]
    body = [[TextLine(row.title, size=TABLE_FONT_SIZE), str(row.enrollments), str(row.completions)] for row in rows]
    total = ["Total", str(sum(r.enrollments for r in rows)), str(sum(r.completions for r in rows))]
    table = Table(
        [header, *body, total],
        colWidths=[width - 2 * NUMBER_COLUMN_WIDTH, NUMBER_COLUMN_WIDTH, NUMBER_COLUMN_WIDTH],
        repeatRows=1,
    )
    last = len(body) + 1
    style = [
        ("FONT", (0, 0), (-1, -1), HELVETICA, TABLE_FONT_SIZE),
        ("FONT", (0, 0), (-1, 0), HELVETICA_BOLD, TABLE_FONT_SIZE),
        ("FONT", (0, last), (-1, last), HELVETICA_BOLD, TABLE_FONT_SIZE),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.75, NAVY),
        ("LINEABOVE", (0, last), (-1, last), 0.75, NAVY),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    style += [("BACKGROUND", (0, row), (-1, row), STRIPE) for row in range(2, last, 2)]
    table.setStyle(TableStyle(style))
    return table


class TextLine(Flowable):
    """One line of text drawn literally (no markup), shrunk or cut to the width it is given."""

    def __init__(self, text: str, *, size: float, bold: bool = False, colour: colors.Color = INK):
        super().__init__()
        self.text, self.size, self.bold, self.colour = text, size, bold, colour

    def wrap(self, available_width, available_height):
        self.width, self.height = available_width, self.size * 1.3
        return self.width, self.height

    def draw(self):
        self.canv.setFillColor(self.colour)
        draw_text(
            self.canv,
            self.text,
            x=0,
            y=self.size * 0.3,
            size=self.size,
            bold=self.bold,
            align="left",
            max_width=self.width,
        )


def _day(day: datetime.date) -> str:
    # Spelled out rather than strftime("%A %B"), which follow the process locale.
    weekday = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")[day.weekday()]
    return f"{weekday} {day.day} {MONTHS[day.month - 1]} {day.year}"


def _s(count: int) -> str:
    return "" if count == 1 else "s"
