"""Certificates for names in every script the platform's learners write their names in.

Each certificate is also rasterised to PNG under var/test-artefacts/certificates/, for a person
to look at (joined Arabic reading right to left, no empty boxes, one typeface throughout).
"""

import datetime
import io
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pypdf
import pypdfium2
import pytest

from certificates import fonts, pdf
from certificates.fonts import FONT_DIR, ShapingFont, font
from certificates.pdf import name_layout, render_certificate_pdf
from certificates.typesetting import shape_line

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts" / "certificates"
RASTER_DPI = 100

NAMES = {
    "latin": "Ada Lovelace",
    "latin-accented": "Zoë Łukasz Nguyễn Thị Hồng",
    "cyrillic": "Дмитрий Иванов",
    "greek": "Αλέξανδρος Παπαδόπουλος",
    "arabic": "محمد عبد الله",
    "arabic-vocalised": "مُحَمَّد",
    "persian-zwnj": "نیک\u200cنام",  # noqa: RUF001 -- the zero-width non-joiner parts the halves
    "hebrew": "דוד בן־גוריון",
    "hebrew-pointed": "מֹשֶׁה",
    "chinese": "王小明",
    "chinese-traditional": "陳美玲",
    "japanese": "山田 花子",
    "japanese-kana": "佐々木 さくら",
    "korean": "김민준",
    "devanagari": "श्रीमती प्रिया शर्मा",
    "devanagari-zwj": "क्\u200dष",  # the zero-width joiner asks for the half form, not the conjunct
    "devanagari-below": "अंजलि कुमार गुप्ता",  # vowel signs below the middle of their letters
    "bengali": "রবীন্দ্রনাথ ঠাকুর",
    "tamil": "கோபால் முத்துலட்சுமி",
    "thai": "สมชาย ใจดี",
    "thai-stacked": "น้ำทิพย์",  # tone marks over vowel signs, a cancel mark over a final
    "thai-lowered": "วิชัย ใจดี",  # HarfBuzz lowers the mark of "ชั" by 2/1000 em
}
# 120 characters each: too long for one line at any legible size.
LONG_NAMES = {
    "latin-long": (
        "Wolfeschlegelsteinhausenbergerdorff Hubert Blaine Maximilian Alexander Christopher Bartholomew "
        "Theodore Augustin Fitzroy"
    ),
    "arabic-long": ("محمد بن عبد الله بن عبد المطلب بن هاشم " * 4)[:120].strip(),
}


def fields(name: str) -> dict:
    return {
        "learner_name": name,
        "course_title": "Основы Python για αρχάριους",  # noqa: RUF001 -- Greek letters are the point
        "completed_on": datetime.date(2026, 3, 14),
        "certificate_number": "LMS-2026-000042",
        "verify_url": "https://lms.example.com/certificates/verify/LMS-2026-000042/",
    }


def fonts_of(document: bytes) -> list[dict]:
    """Each font the page uses: its name and which embedded font file its descriptor carries."""
    page = pypdf.PdfReader(io.BytesIO(document)).pages[0]
    found = []
    for font_ref in page["/Resources"]["/Font"].values():
        pdf_font = font_ref.get_object()
        descriptors = [pdf_font.get("/FontDescriptor")]
        for descendant in pdf_font.get("/DescendantFonts", []):
            descriptors.append(descendant.get_object().get("/FontDescriptor"))
        embedded = [
            key
            for descriptor in descriptors
            if descriptor is not None
            for key in ("/FontFile", "/FontFile2", "/FontFile3")
            if key in descriptor.get_object()
        ]
        found.append({"name": str(pdf_font["/BaseFont"]), "embedded": embedded})
    return found


def save_png(document: bytes, key: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{key}.png"
    pypdfium2.PdfDocument(document)[0].render(scale=RASTER_DPI / 72).to_pil().save(path)
    print(f"certificate for {key} rendered to {path}")
    return path


def pdfium_text(document: bytes) -> str:
    # NFC: pdfium gives a letter's marks in the order HarfBuzz drew them (Arabic shadda before
    # fatha), canonically equivalent to the order typed.
    return unicodedata.normalize("NFC", pypdfium2.PdfDocument(document)[0].get_textpage().get_text_range())


def pypdf_text(document: bytes) -> str:
    return pypdf.PdfReader(io.BytesIO(document)).pages[0].extract_text()


@pytest.mark.parametrize("key", [*NAMES, *LONG_NAMES])
def test_render_certificate_pdf_in_any_script_embeds_one_family_on_one_page(key):
    # given
    name = (NAMES | LONG_NAMES)[key]

    # when
    document = render_certificate_pdf(**fields(name))
    save_png(document, key)

    # then: one page, every font embedded (what `pdffonts` reports as "emb"), all Noto Sans
    assert len(pypdf.PdfReader(io.BytesIO(document)).pages) == 1
    fonts = fonts_of(document)
    assert fonts
    assert all(found["embedded"] for found in fonts), fonts
    assert all(found["name"].split("+", 1)[-1].startswith("NotoSans") for found in fonts), fonts


@pytest.mark.parametrize("key", NAMES)
def test_render_certificate_pdf_in_any_script_extracts_the_name_in_logical_order(key):
    # given
    name = NAMES[key]

    # when
    document = render_certificate_pdf(**fields(name))

    # then: both extractors give the name as typed, though Arabic and Hebrew are drawn right to
    # left, and no word space is read into a jump of the pen after a mark
    assert name in pypdf_text(document)
    assert name in pdfium_text(document)


@pytest.mark.parametrize("key", NAMES)
def test_shape_line_has_a_glyph_for_every_letter(key):
    # given
    name = NAMES[key]

    # when
    line = shape_line(name, True)

    # then: no .notdef (glyph 0, the empty box) and no replacement character
    assert all(glyph != 0 for run in line.runs for glyph in run.glyphs)
    assert "\ufffd" not in line.text


def test_shape_line_joins_arabic_right_to_left():
    # given: isolated forms would be the letters' own (cmap) glyphs
    name = "محمد"
    arabic = font("arabic", True)

    # when
    (run,) = shape_line(name, True).runs

    # then: the leftmost glyph is the last letter, and the letters take joined forms
    nominal = [arabic.face.charToGlyph[ord(char)] for char in reversed(name)]
    assert len(run.glyphs) == len(name)
    assert run.glyphs[0] != nominal[0] or run.glyphs[-1] != nominal[-1]
    assert sum(glyph != isolated for glyph, isolated in zip(run.glyphs, nominal, strict=True)) >= 3
    assert arabic.private_text.get(ord(run.codes[0]), run.codes[0]) == "د"


def test_shape_line_forms_devanagari_conjuncts():
    # given: "क्ष" is one conjunct glyph, and the vowel sign of "ि" is drawn before its consonant
    name = "क्षि"

    # when
    (run,) = shape_line(name, True).runs

    # then
    assert len(run.glyphs) < len(name)
    assert run.spans  # a cluster of several glyphs carries its text as ActualText


def test_shape_line_draws_a_bengali_vowel_sign_i_before_its_consonant():
    # given: "কি" is typed consonant first, and its vowel sign stands to the left of it
    bengali = font("bengali", True)

    # when
    (run,) = shape_line("কি", True).runs

    # then
    assert run.glyphs == (bengali.face.charToGlyph[0x09BF], bengali.face.charToGlyph[0x0995])
    assert run.spans == ((0, 1, "কি"),)


def test_shape_line_splits_a_tamil_two_part_vowel_around_its_consonant():
    # given: the vowel sign "ோ" of "கோ" is drawn as "ெ" before the consonant and "ா" after it
    tamil = font("tamil", True).face.charToGlyph

    # when
    (run,) = shape_line("கோ", True).runs

    # then: three glyphs left to right, the consonant in the middle (the left part is the font's
    # form of "ெ" for this place, not necessarily its nominal glyph)
    assert len(run.glyphs) == 3 and run.glyphs[1:] == (tamil[0x0B95], tamil[0x0BBE])
    assert run.glyphs[0] not in (tamil[0x0B95], tamil[0x0BBE])
    assert run.x[0] < run.x[1] < run.x[2]
    assert run.spans == ((0, 2, "கோ"),)


def test_shape_line_lifts_a_thai_tone_mark_above_the_vowel_sign_under_it():
    # given: a tone mark alone over its consonant, and the same mark over an upper vowel
    thai = font("thai", True)

    def ink_tops(text):
        (run,) = shape_line(text, True).runs
        rises = [rise * thai.units_per_em / 1000 for rise in run.rise]  # run.rise is in 1/1000 em
        extents = [thai.hb_font.get_glyph_extents(glyph) for glyph in run.glyphs]
        return run, [rise + ink.y_bearing for rise, ink in zip(rises, extents, strict=True)]

    # when
    alone, alone_tops = ink_tops("ท่")
    stacked, stacked_tops = ink_tops("ที่")

    # then: over the vowel the mark takes its raised form and its ink stands above the vowel's
    assert alone.glyphs[1] == thai.face.charToGlyph[0x0E48]
    assert stacked.glyphs[2] != thai.face.charToGlyph[0x0E48]
    assert stacked_tops[2] > stacked_tops[1] > alone_tops[0]
    assert stacked_tops[2] > alone_tops[1]


@pytest.mark.parametrize("text", ["কুর", "कुमार", "מֹשֶׁה", "น้ำทิพย์"])
def test_shape_line_gives_each_mark_the_width_that_takes_the_pen_to_the_next_glyph(text):
    # given: marks placed left of where their letter's advance ends, so the next glyph starts
    # right of the mark (below the middle of a Bengali or Devanagari letter, a Hebrew point,
    # Thai marks drawn after the vowel that follows them)

    # when
    (run,) = shape_line(text, True).runs

    # then: after a mark, the viewer's pen (its x plus its width in the PDF) is where the next
    # glyph starts, so the line holds no forward jump for an extractor to read as a word space
    marks = [index for index, glyph in enumerate(run.glyphs) if not font(run.font_key, True).face.hmetrics[glyph][0]]
    assert marks
    ends = [*run.x[1:], run.width * 1000]
    assert any(run.advances[index] > 0 for index in marks)
    for index in marks:
        assert run.advances[index] == pytest.approx(max(ends[index] - run.x[index], 0), abs=0.5)


def test_shape_line_does_not_draw_a_vertical_offset_too_small_to_see():
    # given: HarfBuzz lowers the mark of "ชั" by 2/1000 em in Noto Sans Thai
    (run,) = shape_line("ชั", True).runs

    # then: drawn on the baseline (each rise splits the text for extractors)
    assert run.rise == (0.0, 0.0)


def test_shape_line_keeps_a_latin_word_left_to_right_inside_arabic():
    # given
    name = "لا إله Ali"

    # when
    runs = shape_line(name, True).runs

    # then: base direction right to left, so the Latin word stands at the left end
    assert [run.font_key for run in runs] == ["latin", "arabic"]
    assert runs[0].codes.strip() == "Ali"


@pytest.mark.parametrize("key", LONG_NAMES)
def test_name_layout_wraps_a_120_character_name_onto_two_lines_no_smaller_than_the_line_above(key):
    # given
    name = LONG_NAMES[key]
    assert len(name) >= 119  # the Arabic one ends on a word

    # when
    layout = name_layout(name)
    lines, size = layout.lines, layout.size
    document = render_certificate_pdf(**fields(name))

    # then
    assert len(lines) == 2
    assert pdf.PREAMBLE_SIZE <= size <= pdf.NAME_TWO_LINE_SIZE
    assert all(line.width * size <= pdf.CONTENT_WIDTH + 0.01 for line in lines)
    assert f"{lines[0].text} {lines[1].text}" == name  # nothing cut
    text = pypdf_text(document)
    assert lines[0].text in text and lines[1].text in text


def test_name_layout_keeps_a_name_that_fits_on_one_line_at_full_size():
    # when
    layout = name_layout("Ada Lovelace")
    lines, size = layout.lines, layout.size

    # then
    assert len(lines) == 1
    assert size == pdf.NAME_SIZE


def test_name_layout_cuts_only_the_second_line_of_a_name_too_long_for_two():
    # given
    name = "Wolfeschlegelsteinhausenbergerdorff " * 12

    # when
    layout = name_layout(name)
    lines, size = layout.lines, layout.size

    # then
    assert len(lines) == 2
    assert size == pdf.NAME_MIN_SIZE
    assert not lines[0].text.endswith("\u2026")
    assert lines[1].text.endswith("\u2026")
    assert all(line.width * size <= pdf.CONTENT_WIDTH + 0.01 for line in lines)


def test_render_certificate_pdf_in_any_script_is_deterministic():
    # given
    certificate = fields(NAMES["arabic"] + " " + NAMES["devanagari"])

    # when
    first, second = render_certificate_pdf(**certificate), render_certificate_pdf(**certificate)

    # then
    assert first == second


def test_render_certificate_pdf_strips_control_and_bidi_characters_from_the_name():
    # given: a right-to-left override would reverse what follows it
    name = "Ada\u202e Lovelace\x07\n"

    # when
    text = pypdf_text(render_certificate_pdf(**fields(name)))

    # then
    assert "Ada Lovelace" in text
    assert not any(unicodedata.category(char) == "Cf" for char in text)


@pytest.mark.parametrize("key", [*NAMES, *LONG_NAMES, "arabic-deep"])
def test_name_layout_keeps_the_ink_between_the_line_above_and_the_rule(key):
    # given: "ي" and "ج" reach far below the baseline, further than any Latin letter
    name = (NAMES | LONG_NAMES | {"arabic-deep": "سارة الحسيني جيجي"})[key]

    # when
    layout = name_layout(name)

    # then: clear of the rule below and of the descenders of "This certifies that" above
    for line, baseline in zip(layout.lines, layout.baselines, strict=True):
        assert baseline - line.descent * layout.size >= pdf.NAME_RULE_Y
        assert baseline + line.ascent * layout.size <= pdf.NAME_TOP + 0.01
    if len(layout.lines) == 2:
        (top, bottom), (top_y, bottom_y) = layout.lines, layout.baselines
        assert top_y - top.descent * layout.size > bottom_y + bottom.ascent * layout.size  # no overlap


def test_glyph_code_falls_back_to_one_code_per_glyph_once_the_text_codes_are_used_up():
    # given: a font that has handed out every code standing for a (glyph, text) pair
    arabic = ShapingFont("NotoSansArabic-Bold-test", FONT_DIR / fonts.FONT_FILES["arabic"][1])
    fresh = arabic.glyph_code(700, "لا")
    arabic._next_private = fonts.TEXT_CODE_END + 1

    # when
    code = arabic.glyph_code(701, "لا")

    # then: the earlier pair keeps its code and text; the new one still draws glyph 701
    assert arabic.private_text[ord(fresh)] == "لا"
    assert ord(code) == fonts.GLYPH_CODE_START + 701
    assert arabic.face.charToGlyph[ord(code)] == 701
    assert arabic.private_text[ord(code)] == ""


def test_render_certificate_pdf_from_threads_at_once_gives_the_same_bytes():
    # given: names not shaped before, so threads hand out private codes while others embed subsets
    names = [f"{given} {family}" for given in ("ثامر", "ذكرى", "ظافر", "क्षमा") for family in ("الغزي", "त्रिवेदी")]

    # when
    with ThreadPoolExecutor(max_workers=4) as pool:
        rendered = list(pool.map(lambda name: (name, render_certificate_pdf(**fields(name))), names * 4))

    # then: every render of a name is the one a single thread makes
    expected = {name: render_certificate_pdf(**fields(name)) for name in names}
    assert all(document == expected[name] for name, document in rendered)
