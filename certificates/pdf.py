"""Certificate PDFs: one A4-landscape page per certificate, drawn directly on a reportlab canvas.

`render_certificate_pdf(...)` is the entry point; it takes plain values (no models) and returns
the PDF bytes, so the caller decides where they are stored. The same input always gives the same
bytes (reportlab's `invariant` mode), so re-rendering a certificate changes nothing visible.

Untrusted text: the learner's name and the course title come from users. Every string is drawn
as glyphs (never through `Paragraph`, which parses markup), so `<b>x</b>` or `&amp;` are printed
literally. Whitespace and control characters collapse to single spaces, invisible characters are
dropped, and a string too wide for the page is shrunk down to a legible minimum, then cut with an
ellipsis, so nothing overflows the page. A name too long for one line breaks into two lines
(`name_layout`), never smaller than the line above it, still on one page.

Fonts and scripts (`certificates.fonts`, `certificates.typesetting`): every string on the page,
in any script, is set in the Noto Sans family (Noto Sans, Noto Sans Arabic, Hebrew, Devanagari,
Bengali, Tamil, Thai and CJK), embedded as subsets, so the page looks the same in every viewer
and on every printer. Arabic and Hebrew are laid out right to left (python-bidi) and all text
is shaped by HarfBuzz (uharfbuzz): joined Arabic letters, Devanagari and Bengali conjuncts, Tamil
split vowels, stacked Thai marks, marks placed on their letters. Copying or extracting the text
gives it back in logical order. A character no font of the family has (emoji, rarer scripts)
becomes U+FFFD, so rendering never fails.

Speed (measured per script in docs/benchmarks.md): the QR code is encoded by zxing-cpp (C++,
with the standard's choice of the best of eight masks, which a pure-Python encoder spent most of
a render on) and drawn as one filled path whose rectangles are the dark modules merged into
horizontal runs and then stacked vertically, under half the operations of drawing module by
module. rl-accel (a runtime requirement) gives reportlab C versions of its number formatting and
string widths; without it a render takes ~25 % longer.
"""

import datetime
import io
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import zxingcpp
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen.canvas import Canvas

from certificates.fonts import BASE_FONT, font_name
from certificates.typesetting import (
    ShapedLine,
    clean_text,
    cut_line,
    draw_shaped_line,
    fit_line,
    shape_line,
)

__all__ = [
    "draw_certificate",
    "draw_qr_code",
    "draw_text",
    "name_layout",
    "new_canvas",
    "qr_rectangles",
    "render_certificate_pdf",
]

PAGE_SIZE = landscape(A4)
PAGE_WIDTH, PAGE_HEIGHT = PAGE_SIZE

# Frame: an outer heavy line and an inner hairline, inset well beyond the ~5 mm (14 pt) that
# office printers cannot print, so the frame survives printing on any of them.
FRAME_OUTER_INSET = 24
FRAME_INNER_INSET = 32
FRAME_OUTER_WIDTH = 3
FRAME_INNER_WIDTH = 0.75

# Text keeps one inch from the page edge: clear of the frame, and the width that long names and
# course titles are shrunk to.
CONTENT_MARGIN = 72
CONTENT_WIDTH = PAGE_WIDTH - 2 * CONTENT_MARGIN
CENTRE_X = PAGE_WIDTH / 2

# Baselines (from the bottom of the page) and largest sizes of the centred block.
TITLE_Y, TITLE_SIZE = 452, 34
PREAMBLE_Y, PREAMBLE_SIZE = 400, 14  # "This certifies that"
NAME_Y, NAME_SIZE = 348, 40
# A name too long for one line breaks into two, at most this size: the two lines then fit between
# the line above and the rule below. Never smaller than the line above.
NAME_TWO_LINE_SIZE = 22
NAME_MIN_SIZE = PREAMBLE_SIZE
NAME_LEADING = 1.25  # baseline to baseline, in font sizes, at least
NAME_RULE_CLEARANCE = 0.35  # from the rule up to the last line's baseline, in font sizes, at least
# The name's ink stays below this height, clear of the descenders of the line above, and this far
# (in font sizes) from the rule and between its two lines.
NAME_TOP = PREAMBLE_Y - 8
NAME_RULE_GAP = NAME_LINE_GAP = 0.1
# A gold line under the name, as on a paper certificate: a little wider than the name, and never
# so short that a short name looks lost.
NAME_RULE_Y, NAME_RULE_MIN_WIDTH, NAME_RULE_OVERHANG = 334, 320, 20
COMPLETED_Y, COMPLETED_SIZE = 302, 14  # "has successfully completed the course"
COURSE_Y, COURSE_SIZE = 264, 24

# The details block sits bottom left; the QR code with its URL underneath, bottom right.
DETAILS_X = CONTENT_MARGIN
DETAILS_DATE_Y, DETAILS_NUMBER_Y, DETAILS_SIZE = 112, 92, 12
DETAILS_MAX_WIDTH = CONTENT_WIDTH / 2  # the other half belongs to the QR code and its URL
# 1.5 in (38 mm) including the quiet zone: modules of ~0.9 mm for a typical verify URL, which
# phone cameras read at arm's length.
QR_SIZE = 108
QR_X = PAGE_WIDTH - CONTENT_MARGIN - QR_SIZE
QR_Y = 72
URL_SIZE = 8
URL_GAP = 10  # from the QR code's bottom dark module down to the URL's baseline
URL_MAX_WIDTH = CONTENT_WIDTH / 2

# Error correction M (15 % of the symbol may be damaged), raised to Q or H when that fits in the
# same version (QR_BOOST_ERROR). Q outright costs a version step for a typical verify URL:
# smaller modules on paper (docs/benchmarks.md). Quiet zone of 4 modules: the minimum ISO/IEC
# 18004 requires.
QR_ERROR = "m"
QR_BOOST_ERROR = True
QR_LEVELS = "LMQH"
QR_QUIET_ZONE = 4

NAVY = (0.12, 0.23, 0.37)
GOLD = (0.72, 0.53, 0.04)
INK = (0.13, 0.13, 0.13)
GREY = (0.4, 0.4, 0.4)

# The weekly report's table and chart axes (enrollments.report_pdf); the certificate uses none.
HELVETICA, HELVETICA_BOLD = "Helvetica", "Helvetica-Bold"
# Spelled out rather than strftime("%B"), which follows the process locale.
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Compressing the content stream costs ~2 % of a render (within noise) and makes the file ~45 %
# smaller (docs/benchmarks.md).
PAGE_COMPRESSION = 1

Rect = tuple[int, int, int, int]  # (column, row from the top, width, height) in modules
# draw_qr(canvas, data, *, x, y, size) -> (left, bottom, side) of the dark area it drew
QrDrawer = Callable[..., tuple[float, float, float]]


def render_certificate_pdf(
    *,
    learner_name: str,
    course_title: str,
    completed_on: datetime.date,
    certificate_number: str,
    verify_url: str,
) -> bytes:
    """The certificate as a one-page A4-landscape PDF whose QR code encodes `verify_url`."""
    buffer = io.BytesIO()
    canvas = new_canvas(buffer)
    draw_certificate(
        canvas,
        learner_name=learner_name,
        course_title=course_title,
        completed_on=completed_on,
        certificate_number=certificate_number,
        verify_url=verify_url,
    )
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def new_canvas(buffer: io.BytesIO, *, page_compression: int = PAGE_COMPRESSION) -> Canvas:
    # invariant: no timestamp or random document id, so the same input gives the same bytes.
    # initialFontName: a font of the family, or reportlab would name Helvetica (never embedded) on
    # every page.
    return Canvas(
        buffer,
        pagesize=PAGE_SIZE,
        pageCompression=page_compression,
        invariant=1,
        initialFontName=font_name(BASE_FONT, False),
    )


def draw_certificate(
    canvas: Canvas,
    *,
    learner_name: str,
    course_title: str,
    completed_on: datetime.date,
    certificate_number: str,
    verify_url: str,
    draw_qr: QrDrawer | None = None,
) -> None:
    """Draw the certificate on the canvas's current page.

    `draw_qr(canvas, data, *, x, y, size)` draws the QR code and returns the bottom-left corner
    and side of its dark area; it defaults to `draw_qr_code` (the benchmark swaps it).
    """
    draw_qr = draw_qr or draw_qr_code
    canvas.setTitle(f"Certificate of Completion: {clean_text(learner_name)}")
    canvas.setSubject(clean_text(course_title))
    _draw_frame(canvas)

    canvas.setFillColorRGB(*NAVY)
    draw_text(canvas, "Certificate of Completion", x=CENTRE_X, y=TITLE_Y, size=TITLE_SIZE, bold=True)
    canvas.setFillColorRGB(*GREY)
    draw_text(canvas, "This certifies that", x=CENTRE_X, y=PREAMBLE_Y, size=PREAMBLE_SIZE)
    canvas.setFillColorRGB(*INK)
    name_width = draw_name(canvas, learner_name)
    rule_half = min(max(name_width / 2 + NAME_RULE_OVERHANG, NAME_RULE_MIN_WIDTH / 2), CONTENT_WIDTH / 2)
    canvas.setStrokeColorRGB(*GOLD)
    canvas.setLineWidth(FRAME_INNER_WIDTH)
    canvas.line(CENTRE_X - rule_half, NAME_RULE_Y, CENTRE_X + rule_half, NAME_RULE_Y)
    canvas.setFillColorRGB(*GREY)
    draw_text(canvas, "has successfully completed the course", x=CENTRE_X, y=COMPLETED_Y, size=COMPLETED_SIZE)
    canvas.setFillColorRGB(*NAVY)
    draw_text(canvas, course_title, x=CENTRE_X, y=COURSE_Y, size=COURSE_SIZE, bold=True)

    canvas.setFillColorRGB(*INK)
    date_text = f"Completed on {completed_on.day} {MONTHS[completed_on.month - 1]} {completed_on.year}"
    number_text = f"Certificate no. {certificate_number}"
    for text, y in ((date_text, DETAILS_DATE_Y), (number_text, DETAILS_NUMBER_Y)):
        draw_text(canvas, text, x=DETAILS_X, y=y, size=DETAILS_SIZE, align="left", max_width=DETAILS_MAX_WIDTH)

    qr_left, qr_bottom, qr_side = draw_qr(canvas, verify_url, x=QR_X, y=QR_Y, size=QR_SIZE)
    canvas.setFillColorRGB(*GREY)
    draw_text(
        canvas,
        verify_url,
        x=qr_left + qr_side,
        y=qr_bottom - URL_GAP,
        size=URL_SIZE,
        align="right",
        max_width=URL_MAX_WIDTH,
    )


def _draw_frame(canvas: Canvas) -> None:
    canvas.setStrokeColorRGB(*NAVY)
    canvas.setLineWidth(FRAME_OUTER_WIDTH)
    inset = FRAME_OUTER_INSET
    canvas.rect(inset, inset, PAGE_WIDTH - 2 * inset, PAGE_HEIGHT - 2 * inset, stroke=1, fill=0)
    canvas.setStrokeColorRGB(*GOLD)
    canvas.setLineWidth(FRAME_INNER_WIDTH)
    inset = FRAME_INNER_INSET
    canvas.rect(inset, inset, PAGE_WIDTH - 2 * inset, PAGE_HEIGHT - 2 * inset, stroke=1, fill=0)


# --- QR code ---------------------------------------------------------------------------------


# zxing-cpp's images are 0 for a dark module and 255 for a light one.
_DARK_AS_ONE = bytes([1] + [0] * 255)


def qr_matrix(data: str, *, error: str = QR_ERROR) -> list[bytes]:
    """The QR code for `data` as rows of modules, 1 dark and 0 light, without the quiet zone.

    Encoded by zxing-cpp (C++): the smallest version for the data, with the mask of the lowest
    penalty of all eight, as ISO/IEC 18004 asks, in about a twentieth of the time of a pure
    Python encoder (docs/benchmarks.md). Same input, same modules.
    """
    lowest = error.upper()
    levels = QR_LEVELS[QR_LEVELS.index(lowest) :] if QR_BOOST_ERROR else lowest
    chosen = None
    for level in levels:
        barcode = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level=level)
        modules = memoryview(barcode.to_image(scale=1, add_quiet_zones=False))
        if chosen is not None and modules.shape != chosen.shape:
            break  # a stronger level would need a bigger symbol: keep the one before
        chosen = modules
    side = chosen.shape[0]
    dark = chosen.tobytes().translate(_DARK_AS_ONE)
    return [dark[start : start + side] for start in range(0, side * side, side)]


def qr_rectangles(data: str, *, error: str = QR_ERROR, encode: Callable = qr_matrix) -> tuple[int, list[Rect]]:
    """The QR code for `data`: its side in modules, and rectangles covering its dark modules.

    Each row's dark modules are merged into runs, and a run identical to one in the row above
    extends that rectangle down: a version-4 code is ~230 rectangles instead of ~560 dark modules.
    Coordinates count columns from the left and rows from the top, without the quiet zone.
    `encode(data, error=...)` gives the rows of modules (qr_matrix; a benchmark swaps it).
    """
    matrix = encode(data, error=error)
    side = len(matrix)
    rects: list[list[int]] = []
    open_above: dict[tuple[int, int], list[int]] = {}
    for row_index, row in enumerate(matrix):
        open_here: dict[tuple[int, int], list[int]] = {}
        start = row.find(1)
        while start != -1:
            end = row.find(0, start)
            if end == -1:
                end = side
            rect = open_above.get((start, end))
            if rect is None:
                rect = [start, row_index, end - start, 1]
                rects.append(rect)
            else:
                rect[3] += 1
            open_here[(start, end)] = rect
            start = row.find(1, end)
        open_above = open_here
    return side, [tuple(rect) for rect in rects]


def draw_qr_code(
    canvas: Canvas,
    data: str,
    *,
    x: float,
    y: float,
    size: float,
    error: str = QR_ERROR,
    encode: Callable = qr_matrix,
) -> tuple[float, float, float]:
    """Draw the QR code for `data` in the square (x, y, size), quiet zone included.

    Returns the bottom-left corner and side of the dark area, for aligning a caption.
    """
    side, rects = qr_rectangles(data, error=error, encode=encode)
    module = size / (side + 2 * QR_QUIET_ZONE)
    left = x + QR_QUIET_ZONE * module
    top = y + size - QR_QUIET_ZONE * module
    canvas.saveState()
    # Work in module units with rows going down, so each rectangle is four small integers.
    canvas.transform(module, 0, 0, -module, left, top)
    canvas.setFillColorRGB(0, 0, 0)
    path = canvas.beginPath()
    for rect in rects:
        path.rect(*rect)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()
    return left, top - side * module, side * module


# --- Text ------------------------------------------------------------------------------------


def draw_text(
    canvas: Canvas,
    text: str,
    *,
    x: float,
    y: float,
    size: float,
    bold: bool = False,
    align: str = "centre",
    max_width: float = CONTENT_WIDTH,
) -> float:
    """Draw `text` literally (no markup) at baseline y, shrunk or cut to fit `max_width`.

    `x` is the centre, the left or the right end of the text for `align` "centre", "left" or
    "right". Uses the current fill colour. Returns the width drawn.
    """
    line, size = fit_line(shape_line(clean_text(text), bold), size=size, max_width=max_width)
    width = line.width * size
    if align == "centre":
        x -= width / 2
    elif align == "right":
        x -= width
    draw_shaped_line(canvas, line, x=x, y=y, size=size)
    return width


@dataclass(frozen=True)
class NameLayout:
    lines: list[ShapedLine]  # one or two, top first
    size: float
    baselines: list[float]


def name_layout(name: str) -> NameLayout:
    """The learner's name as one line, or two when one would be smaller than two, and its size.

    One line shrinks from NAME_SIZE to fit the width, and the height between the line above and
    the rule (Arabic and Devanagari reach further below and above the baseline than Latin); when
    that goes below what two lines reach (at most NAME_TWO_LINE_SIZE), the name breaks at the
    space (or, with none, between letters) that best balances the two lines. The size never goes
    below NAME_MIN_SIZE, the size of the line above; a name too long even for two lines at that
    size has its second line cut with an ellipsis.
    """
    line = shape_line(clean_text(name), True)
    one_line_size = _one_line_size(line)
    if one_line_size >= NAME_TWO_LINE_SIZE:
        return _one_line(line, one_line_size)
    breaks = _break_positions(line.text)
    if not breaks:
        size = max(one_line_size, NAME_MIN_SIZE)
        return _one_line(fit_line(line, size=size, max_width=CONTENT_WIDTH, min_size=NAME_MIN_SIZE)[0], size)
    first, second = _balanced_split(line.text, breaks)
    two_line_size = _two_line_size(first, second)
    if one_line_size >= two_line_size:
        return _one_line(line, one_line_size)
    if two_line_size >= NAME_MIN_SIZE:
        return _two_lines(first, second, two_line_size)
    # Too long for two lines: fill the first line, cut the second.
    fitting = [at for at in breaks if shape_line(line.text[:at].rstrip(), True).width * NAME_MIN_SIZE <= CONTENT_WIDTH]
    at = fitting[-1] if fitting else breaks[0]
    first = fit_line(shape_line(line.text[:at].rstrip(), True), size=NAME_MIN_SIZE, max_width=CONTENT_WIDTH)[0]
    second = cut_line(line.text[at:].lstrip(), bold=True, size=NAME_MIN_SIZE, max_width=CONTENT_WIDTH)
    return _two_lines(first, second, NAME_MIN_SIZE)


def _one_line_size(line: ShapedLine) -> float:
    size = NAME_SIZE if not line.width else min(NAME_SIZE, CONTENT_WIDTH / line.width)
    # The ink stays between the rule and NAME_TOP, and rises no higher than NAME_TOP from NAME_Y.
    height = line.ascent + line.descent + NAME_RULE_GAP
    if height > 0 and line.ascent > 0:
        fits = min((NAME_TOP - NAME_RULE_Y) / height, (NAME_TOP - NAME_Y) / line.ascent)
        size = min(size, max(fits, NAME_MIN_SIZE))  # a pile of marks never makes a name tiny
    return size


def _one_line(line: ShapedLine, size: float) -> NameLayout:
    # Raised above NAME_Y only as far as a deep descender needs to clear the rule.
    baseline = max(NAME_Y, NAME_RULE_Y + (line.descent + NAME_RULE_GAP) * size)
    return NameLayout(lines=[line], size=size, baselines=[baseline])


def _two_line_metrics(first: ShapedLine, second: ShapedLine) -> tuple[float, float, float]:
    """(rule to the second baseline, baseline to baseline, first baseline to its top), in ems."""
    below = max(NAME_RULE_CLEARANCE, second.descent + NAME_RULE_GAP)
    pitch = max(NAME_LEADING, first.descent + second.ascent + NAME_LINE_GAP)
    return below, pitch, first.ascent


def _two_line_size(first: ShapedLine, second: ShapedLine) -> float:
    below, pitch, above = _two_line_metrics(first, second)
    by_height = max((NAME_TOP - NAME_RULE_Y) / (below + pitch + above), NAME_MIN_SIZE)
    return min(NAME_TWO_LINE_SIZE, CONTENT_WIDTH / max(first.width, second.width), by_height)


def _two_lines(first: ShapedLine, second: ShapedLine, size: float) -> NameLayout:
    below, pitch, _ = _two_line_metrics(first, second)
    second_baseline = NAME_RULE_Y + below * size
    return NameLayout(lines=[first, second], size=size, baselines=[second_baseline + pitch * size, second_baseline])


def _break_positions(text: str) -> list[int]:
    """Where a line may break: after each space, or between any two letters if there is none."""
    spaces = [index + 1 for index, char in enumerate(text) if char == " "]
    if spaces:
        return spaces
    return [index for index in range(1, len(text)) if unicodedata.category(text[index])[0] != "M"]


def _balanced_split(text: str, breaks: list[int]) -> tuple[ShapedLine, ShapedLine]:
    def halves(at: int) -> tuple[ShapedLine, ShapedLine]:
        return shape_line(text[:at].rstrip(), True), shape_line(text[at:].lstrip(), True)

    # The first line grows and the second shrinks with the break: find where they cross.
    low, high = 0, len(breaks) - 1
    while low < high:
        middle = (low + high) // 2
        first, second = halves(breaks[middle])
        if first.width < second.width:
            low = middle + 1
        else:
            high = middle
    candidates = [halves(breaks[index]) for index in {max(low - 1, 0), low}]
    return min(candidates, key=lambda pair: max(pair[0].width, pair[1].width))


def draw_name(canvas: Canvas, name: str) -> float:
    """Draw the learner's name centred above the rule (see `name_layout`); returns its width."""
    layout = name_layout(name)
    for line, baseline in zip(layout.lines, layout.baselines, strict=True):
        draw_shaped_line(canvas, line, x=CENTRE_X - line.width * layout.size / 2, y=baseline, size=layout.size)
    return max(line.width for line in layout.lines) * layout.size
