import datetime
import io

import pypdf
import pypdfium2
import pytest
import segno
import segno.encoder as segno_encoder
import zxingcpp

from certificates import pdf, typesetting
from certificates.fonts import font
from certificates.pdf import qr_rectangles, render_certificate_pdf
from certificates.typesetting import clean_text, fit_line, shape_line

VERIFY_URL = "https://lms.example.com/certificates/verify/LMS-2026-000042/"
CYRILLIC_AND_GREEK_TITLE = "Основы Python για αρχάριους"  # noqa: RUF001 -- Greek letters are the point


def fields(**overrides) -> dict:
    return {
        "learner_name": "Ada Lovelace",
        "course_title": "Introduction to Analytical Engines",
        "completed_on": datetime.date(2026, 3, 14),
        "certificate_number": "LMS-2026-000042",
        "verify_url": VERIFY_URL,
    } | overrides


def read(document: bytes) -> pypdf.PdfReader:
    return pypdf.PdfReader(io.BytesIO(document))


def page_text(document: bytes) -> str:
    return read(document).pages[0].extract_text()


def test_render_certificate_pdf_is_one_landscape_a4_page():
    # given
    certificate = fields()

    # when
    document = render_certificate_pdf(**certificate)

    # then
    assert document.startswith(b"%PDF-")
    reader = read(document)
    assert len(reader.pages) == 1
    width, height = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert width > height
    assert (round(width), round(height)) == (842, 595)  # A4 landscape in points


def test_render_certificate_pdf_prints_every_field():
    # given
    certificate = fields()

    # when
    text = page_text(render_certificate_pdf(**certificate))

    # then
    assert "Certificate of Completion" in text
    assert "Ada Lovelace" in text
    assert "Introduction to Analytical Engines" in text
    assert "LMS-2026-000042" in text
    assert "14 March 2026" in text
    assert VERIFY_URL in text


def test_render_certificate_pdf_prints_markup_literally():
    # given
    certificate = fields(learner_name="<b>Ada</b> & <font color=red>", course_title="<para>Ops &amp; SRE</para>")

    # when
    text = page_text(render_certificate_pdf(**certificate))

    # then
    assert "<b>Ada</b> & <font color=red>" in text
    assert "<para>Ops &amp; SRE</para>" in text


def test_render_certificate_pdf_fits_a_200_character_name_on_one_page():
    # given
    certificate = fields(learner_name="Wolfeschlegelsteinhausenbergerdorff " * 5 + "W" * 20)
    assert len(certificate["learner_name"]) == 200

    # when
    document = render_certificate_pdf(**certificate)

    # then
    assert len(read(document).pages) == 1
    assert "Wolfeschlegelsteinhausenbergerdorff Wolfeschlegel" in page_text(document)


def test_render_certificate_pdf_renders_names_outside_latin_1():
    # given
    certificate = fields(learner_name="Zoë Łukasz 李雷", course_title=CYRILLIC_AND_GREEK_TITLE)

    # when
    text = page_text(render_certificate_pdf(**certificate))

    # then
    assert "Zoë Łukasz" in text
    assert "李雷" in text
    assert CYRILLIC_AND_GREEK_TITLE in text


def test_render_certificate_pdf_is_deterministic():
    # given
    certificate = fields()

    # when
    first, second = render_certificate_pdf(**certificate), render_certificate_pdf(**certificate)

    # then
    assert first == second


@pytest.mark.parametrize(
    "verify_url",
    [VERIFY_URL, "https://learning.example-university.edu/certificates/verify/CERT-2026-ABCDEF-000123456/"],
)
def test_render_certificate_pdf_qr_code_decodes_to_verify_url(verify_url):
    # given
    document = render_certificate_pdf(**fields(verify_url=verify_url))

    # when: rasterised at 150 dpi, about what a phone camera resolves on a printed page
    page = pypdfium2.PdfDocument(document)[0]
    image = page.render(scale=150 / 72).to_pil()
    barcodes = zxingcpp.read_barcodes(image)

    # then
    assert [(barcode.format, barcode.text) for barcode in barcodes] == [(zxingcpp.BarcodeFormat.QRCode, verify_url)]


def test_qr_rectangles_cover_exactly_the_encoders_dark_modules():
    # given
    expected = pdf.qr_matrix(VERIFY_URL)

    # when
    side, rects = qr_rectangles(VERIFY_URL)

    # then: every dark module is covered once, no light module at all
    covered = [[0] * side for _ in range(side)]
    for x, y, width, height in rects:
        for row in range(y, y + height):
            for column in range(x, x + width):
                covered[row][column] += 1
    assert side == len(expected)
    assert covered == [list(row) for row in expected]
    assert len(rects) < sum(map(sum, expected)) / 2  # merged, not one rectangle per module


# Numeric data, which both encoders lay out bit for bit alike (for some other data their padding
# differs, and then no candidate matches).
@pytest.mark.parametrize(
    "data", ["8675309", "20261201123456789", "31415926535897932384626433832795028841971", "1234567890" * 5]
)
def test_qr_matrix_keeps_the_mask_of_lowest_penalty(data, monkeypatch):
    # given the same data at the same level and version under each of the eight masks, drawn
    # by another encoder (segno), and that encoder's ISO/IEC 18004 penalty score of each
    monkeypatch.setattr(pdf, "QR_BOOST_ERROR", False)
    ours = [tuple(row) for row in pdf.qr_matrix(data, error="m")]
    options = {"error": "m", "boost_error": False, "micro": False}
    version = segno.make(data, **options).version
    candidates = [segno.make(data, **options, mask=k, version=version) for k in range(8)]
    penalty = {k: sum(segno_encoder.mask_scores([bytearray(r) for r in c.matrix], len(ours), len(ours)))
               for k, c in enumerate(candidates)}  # fmt: skip

    # then ours is one of them, and the one of lowest penalty
    (chosen,) = [k for k, c in enumerate(candidates) if [tuple(r) for r in c.matrix] == ours]
    assert penalty[chosen] == min(penalty.values()), penalty


def test_qr_error_correction_is_raised_while_the_symbol_keeps_its_size():
    # given a short URL, which fits version 2 at M, and whose Q and H need a bigger symbol
    short = "https://a.example/v/1/"
    sizes = {level: len(pdf.qr_matrix(short, error=level)) for level in "mqh"}

    # when / then: M was raised as far as the same side allows, and never to a bigger symbol
    boosted = [level for level in "qh" if sizes[level] == sizes["m"]]
    decoded = zxingcpp.read_barcode(qr_image(pdf.qr_matrix(short)))
    assert decoded.text == short
    assert decoded.ec_level == (boosted[-1].upper() if boosted else "M")


def qr_image(rows: list[bytes], *, scale: int = 8):
    """`rows` of modules (1 dark) as a black-on-white PIL image with a 4-module quiet zone."""
    from PIL import Image

    side = len(rows) + 8
    image = Image.new("L", (side, side), 255)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                image.putpixel((x + 4, y + 4), 0)
    return image.resize((side * scale, side * scale), Image.NEAREST)


def test_shape_line_picks_the_noto_font_that_has_each_script():
    # given
    text = "Renée Łukasz 李雷 محمد"

    # when
    runs = shape_line(text, True).runs

    # then: spaces stay with the text before them
    assert [run.font_key for run in runs] == ["latin", "cjk", "arabic"]
    assert [font(run.font_key, True).fontName for run in runs] == [
        "NotoSans-Bold",
        "NotoSansCJKsc-Bold",
        "NotoSansArabic-Bold",
    ]


def test_shape_line_replaces_what_no_font_has():
    # given: an emoji, which no font of the family draws
    text = "Ada \U0001f600"

    # when
    line = shape_line(text, False)

    # then
    assert line.text == "Ada \ufffd"
    assert [run.font_key for run in line.runs] == ["latin"]


def test_clean_text_collapses_whitespace_and_drops_invisible_characters():
    assert clean_text("  Ada\t\nLove\u200blace\x00 ") == "Ada Lovelace"


def test_fit_line_shrinks_text_wider_than_the_limit():
    # given
    line = shape_line("A fairly long course title", False)
    natural = line.width * 24

    # when
    fitted, size = fit_line(line, size=24, max_width=natural / 2)

    # then
    assert fitted == line
    assert size == pytest.approx(12)
    assert fitted.width * size == pytest.approx(natural / 2)


def test_fit_line_cuts_text_with_an_ellipsis_below_the_minimum_size():
    # when
    fitted, size = fit_line(shape_line("W" * 500, False), size=40, max_width=300)

    # then
    assert size == typesetting.MIN_FONT_SIZE
    assert fitted.width * size <= 300
    assert fitted.text.endswith("\u2026") and fitted.text.startswith("WWW")
