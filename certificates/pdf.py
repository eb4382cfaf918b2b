"""Certificate PDFs: one A4-landscape page per certificate, drawn directly on a reportlab canvas.

`render_certificate_pdf(...)` is the entry point; it takes plain values (no models) and returns
the PDF bytes, so the caller decides where they are stored. The same input always gives the same
bytes (reportlab's `invariant` mode), so re-rendering a certificate changes nothing visible.

Untrusted text: the learner's name and the course title come from users. Every string is drawn
with `drawString` (never `Paragraph`, which parses markup), so `<b>x</b>` or `&amp;` are printed
literally. Whitespace and control characters collapse to single spaces, invisible characters are
dropped, and a string too wide for the page is shrunk (measured with `stringWidth`) down to a
legible minimum, then cut with an ellipsis, so nothing overflows the page.

Fonts, and the trade-off chosen:
- Text that Helvetica can show (Windows-1252, i.e. Western European) is drawn in Helvetica, one
  of the PDF standard fonts every viewer has: nothing is embedded, which keeps the common case
  fast and the file small.
- Other text is drawn in DejaVu Sans (committed in `certificates/fonts/`, licence beside it) and a
  subset of it is embedded: Latin Extended (Polish, Czech, Turkish, Vietnamese...), Greek,
  Cyrillic and more. Embedding costs render time only for the certificates that need it.
- Chinese, Japanese and Korean, which DejaVu lacks, use reportlab's CJK CID fonts (STSong-Light,
  HeiseiKakuGo-W5, HYGothic-Medium). They are not embedded: the viewer supplies the glyphs
  (Acrobat and viewers on systems with CJK fonts do; a rasteriser without CJK fonts, such as a
  bare server, shows blanks), while text search and copy work everywhere. Shipping a CJK font
  would add megabytes to the repository and its subsetting to every such render.
- Any other character (emoji, scripts neither font covers) becomes U+FFFD, so rendering never
  fails. Right-to-left and complex scripts (Arabic, Indic) are drawn without shaping.

Speed (measured in docs/benchmarks.md, ~185 certificates per second per core): the QR code is
encoded with segno and drawn as one filled path whose rectangles are the dark modules merged
into horizontal runs and then stacked vertically, under half the operations of drawing module by
module. rl-accel (a runtime requirement) gives reportlab C versions of its number formatting and
string widths; without it a render takes ~25 % longer.
"""

import datetime
import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

import segno
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from lms.text import display_text_clean

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

# Below this size text stops being legible on paper, so longer text is cut with an ellipsis.
MIN_FONT_SIZE = 6

# Baselines (from the bottom of the page) and largest sizes of the centred block.
TITLE_Y, TITLE_SIZE = 452, 34
PREAMBLE_Y, PREAMBLE_SIZE = 400, 14  # "This certifies that"
NAME_Y, NAME_SIZE = 348, 40
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

# Error correction M (15 % of the symbol may be damaged), raised to Q or H by segno when that fits
# in the same version. Q outright costs a version step for a typical verify URL: smaller
# modules on paper and a ~20 % slower render (docs/benchmarks.md). Quiet zone of 4 modules:
# the minimum ISO/IEC 18004 requires.
QR_ERROR = "m"
QR_BOOST_ERROR = True
QR_QUIET_ZONE = 4
# None: segno scores all eight data masks and keeps the best, as ISO/IEC 18004 asks. That is
# over half of a render; a fixed mask would be ~2.5x faster but can leave blotches or
# finder-like patterns that make some codes harder to read, and the render is fast enough.
QR_MASK = None

NAVY = (0.12, 0.23, 0.37)
GOLD = (0.72, 0.53, 0.04)
INK = (0.13, 0.13, 0.13)
GREY = (0.4, 0.4, 0.4)

HELVETICA, HELVETICA_BOLD = "Helvetica", "Helvetica-Bold"
UNICODE_FONT, UNICODE_FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"
FONT_DIR = Path(__file__).resolve().parent / "fonts"
CJK_FONTS = {"zh": "STSong-Light", "ja": "HeiseiKakuGo-W5", "ko": "HYGothic-Medium"}
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
ELLIPSIS = "\u2026"
REPLACEMENT = "\ufffd"

# Compressing the content stream costs ~2 % of a render (within noise) and makes the file ~45 %
# smaller (docs/benchmarks.md).
PAGE_COMPRESSION = 1

Run = tuple[str, str]  # (font name, text drawn in that font)
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
    return Canvas(buffer, pagesize=PAGE_SIZE, pageCompression=page_compression, invariant=1)


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
    canvas.setTitle(f"Certificate of Completion: {_clean(learner_name)}")
    canvas.setSubject(_clean(course_title))
    _draw_frame(canvas)

    canvas.setFillColorRGB(*NAVY)
    draw_text(canvas, "Certificate of Completion", x=CENTRE_X, y=TITLE_Y, size=TITLE_SIZE, bold=True)
    canvas.setFillColorRGB(*GREY)
    draw_text(canvas, "This certifies that", x=CENTRE_X, y=PREAMBLE_Y, size=PREAMBLE_SIZE)
    canvas.setFillColorRGB(*INK)
    name_width = draw_text(canvas, learner_name, x=CENTRE_X, y=NAME_Y, size=NAME_SIZE, bold=True)
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


def qr_rectangles(data: str, *, error: str = QR_ERROR, mask: int | None = QR_MASK) -> tuple[int, list[Rect]]:
    """The QR code for `data`: its side in modules, and rectangles covering its dark modules.

    Each row's dark modules are merged into runs, and a run identical to one in the row above
    extends that rectangle down: a version-4 code is ~230 rectangles instead of ~560 dark modules.
    Coordinates count columns from the left and rows from the top, without the quiet zone.
    """
    matrix = segno.make(data, error=error, boost_error=QR_BOOST_ERROR, micro=False, mask=mask).matrix
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
    mask: int | None = QR_MASK,
) -> tuple[float, float, float]:
    """Draw the QR code for `data` in the square (x, y, size), quiet zone included.

    Returns the bottom-left corner and side of the dark area, for aligning a caption.
    """
    side, rects = qr_rectangles(data, error=error, mask=mask)
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
    runs = text_runs(text, bold=bold)
    runs, size, width = fit_runs(runs, size=size, max_width=max_width)
    if align == "centre":
        x -= width / 2
    elif align == "right":
        x -= width
    for font, run_text in runs:
        canvas.setFont(font, size)
        canvas.drawString(x, y, run_text)
        x += pdfmetrics.stringWidth(run_text, font, size)
    return width


def text_runs(text: str, *, bold: bool = False) -> list[Run]:
    """Split cleaned `text` into runs, each in a font that has its glyphs (see module doc)."""
    text = _clean(text)
    if _helvetica_can_show(text):
        return [(HELVETICA_BOLD if bold else HELVETICA, text)]
    unicode_font = _unicode_font(bold)
    glyphs = pdfmetrics.getFont(unicode_font).face.charToGlyph
    cjk_font = None
    runs: list[Run] = []
    for char in text:
        if char == " " and runs:
            font = runs[-1][0]  # every font has a space; switching fonts for one would be noise
        elif _is_cjk(char):
            font = cjk_font = cjk_font or _cjk_font(text)
        elif ord(char) <= 0xFFFF and ord(char) in glyphs:  # reportlab maps only the BMP to Unicode
            font = unicode_font
        else:
            font, char = unicode_font, REPLACEMENT
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + char)
        else:
            runs.append((font, char))
    return runs


def fit_runs(runs: list[Run], *, size: float, max_width: float) -> tuple[list[Run], float, float]:
    """Shrink the runs' font size so they fit `max_width`, then cut them if still too wide.

    Returns the runs to draw, the font size and their width at that size.
    """
    width_per_point = sum(pdfmetrics.stringWidth(text, font, 1) for font, text in runs)
    if width_per_point * size <= max_width:
        return runs, size, width_per_point * size
    size = max_width / width_per_point
    if size >= MIN_FONT_SIZE:
        return runs, size, max_width
    size = MIN_FONT_SIZE
    budget = max_width / size  # in width-per-point units
    budget -= max(pdfmetrics.stringWidth(ELLIPSIS, font, 1) for font, _ in runs)
    kept: list[Run] = []
    used = 0.0
    for font, text in runs:
        for index, char in enumerate(text):
            used += pdfmetrics.stringWidth(char, font, 1)
            if used > budget:
                kept.append((font, text[:index].rstrip() + ELLIPSIS))
                return kept, size, sum(pdfmetrics.stringWidth(t, f, size) for f, t in kept)
        kept.append((font, text))
    return kept, size, used * size  # unreachable in practice: the whole text fit after all


# NFC first so "e" + combining diaeresis becomes the single "ë" that Helvetica has. Control
# characters (tabs, newlines) separate words; other invisible ones (format, private use,
# unassigned, lone surrogates) have no glyph to draw and would only show as boxes. The same
# function cleans names at registration, in admin and on the verification page (lms/text.py).
_clean = display_text_clean


def _helvetica_can_show(text: str) -> bool:
    # reportlab's standard fonts use WinAnsiEncoding, which is Windows-1252.
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@cache
def _unicode_font(bold: bool) -> str:
    # Registered on first use: parsing the TTF takes ~50 ms, which most processes never need.
    name, file = (UNICODE_FONT_BOLD, "DejaVuSans-Bold.ttf") if bold else (UNICODE_FONT, "DejaVuSans.ttf")
    pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / file)))
    return name


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x1100 <= code <= 0x11FF  # Hangul Jamo
        or 0x2E80 <= code <= 0x9FFF  # CJK radicals, punctuation, kana, Hangul compatibility, Han
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs
        or 0xFF00 <= code <= 0xFFEF  # half- and full-width forms
    )


def _cjk_font(text: str) -> str:
    # Han characters alone do not tell the language; kana mean Japanese and Hangul Korean.
    if any(0x3040 <= ord(char) <= 0x30FF for char in text):
        return _cid_font(CJK_FONTS["ja"])
    if any(0xAC00 <= ord(char) <= 0xD7AF or 0x1100 <= ord(char) <= 0x11FF for char in text):
        return _cid_font(CJK_FONTS["ko"])
    return _cid_font(CJK_FONTS["zh"])


@cache
def _cid_font(name: str) -> str:  # registered on first use, like the TTF
    pdfmetrics.registerFont(UnicodeCIDFont(name))
    return name
