"""Build the fonts in certificates/fonts/ from the Noto release files (not run by anything else).

    python scripts/build_certificate_fonts.py SOURCE_DIR

SOURCE_DIR holds the upstream Noto files (SIL Open Font License 1.1): NotoSans-{Regular,Bold}.ttf,
NotoSansArabic-*.ttf, NotoSansHebrew-*.ttf, NotoSansDevanagari-*.ttf, NotoSansBengali-*.ttf,
NotoSansTamil-*.ttf, NotoSansThai-*.ttf (Noto's hinted TrueType release, e.g. Debian's
fonts-noto-core 20201225, from which this rebuilds the committed files byte for byte) and
NotoSansCJK-Bold.ttc (Noto Sans CJK 2.004, e.g. Debian's fonts-noto-cjk). Needs fontTools
(requirements-dev.txt).

What it does and why:
- Drops hinting from every font: the certificate is printed or viewed zoomed, where hinting does
  nothing, and every embedded subset would carry the hinting programs.
- Keeps every glyph and OpenType layout feature of the alphabetic fonts, so HarfBuzz can join
  Arabic, form Devanagari and Bengali conjuncts, reorder and split Indic vowel signs, stack
  Thai marks and place marks.
- Cuts Noto Sans CJK (20 MB per weight) to the characters of names: every Hanzi of GB 2312,
  every Kanji of JIS X 0208, the common Hanzi of Big5 (level 1), every Hangul syllable of
  KS X 1001, kana, CJK punctuation and full-width forms, from the Simplified Chinese face (which
  has the Japanese and Korean characters too). Only the bold weight: on the certificate only
  names and course titles, both bold, can hold CJK text.
- Converts the CJK font's cubic CFF outlines to quadratic TrueType ones (cu2qu), because
  reportlab embeds only TrueType outlines.
"""

import contextlib
import sys
from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, TTFont, newTable

OUTPUT = Path(__file__).resolve().parent.parent / "certificates" / "fonts"
ALPHABETIC = [
    f"{family}-{weight}.ttf"
    for family in (
        "NotoSans",
        "NotoSansArabic",
        "NotoSansHebrew",
        "NotoSansDevanagari",
        "NotoSansBengali",
        "NotoSansTamil",
        "NotoSansThai",
    )
    for weight in ("Regular", "Bold")
]
CJK_SOURCE, CJK_FACE, CJK_OUTPUT = "NotoSansCJK-Bold.ttc", "Noto Sans CJK SC Bold", "NotoSansCJKsc-Bold-Names.ttf"
# How far a quadratic curve may stray from the cubic it replaces, in font units (of 1000 per em).
CU2QU_MAX_ERROR = 1.0


def double_byte_charset(codec: str, leads: range, trails: range) -> set[str]:
    chars = set()
    for lead in leads:
        for trail in trails:
            with contextlib.suppress(UnicodeDecodeError):  # an unassigned code
                chars.add(bytes([lead, trail]).decode(codec))
    return chars


def cjk_name_characters() -> set[int]:
    euc_trails = range(0xA1, 0xFF)
    chars = double_byte_charset("gb2312", range(0xB0, 0xF8), euc_trails)  # GB 2312 Hanzi rows 16-87
    chars |= double_byte_charset("euc_jp", range(0xB0, 0xF5), euc_trails)  # JIS X 0208 Kanji rows 16-84
    chars |= double_byte_charset("euc_kr", range(0xB0, 0xC9), euc_trails)  # KS X 1001 Hangul rows 16-40
    chars |= double_byte_charset("big5", range(0xA4, 0xC7), [*range(0x40, 0x7F), *range(0xA1, 0xFF)])  # level 1
    codes = {ord(char) for char in chars}
    codes |= set(range(0x3000, 0x3100))  # CJK punctuation, hiragana, katakana
    codes |= set(range(0x31F0, 0x3200))  # katakana phonetic extensions
    codes |= set(range(0xFF00, 0xFFF0))  # half- and full-width forms
    codes |= set(range(0x20, 0x7F))  # ASCII, for spaces and digits inside CJK runs
    return codes


def subset_options(*, keep_layout: bool) -> subset.Options:
    options = subset.Options()
    options.hinting = False
    options.desubroutinize = True
    options.name_IDs = ["*"]  # keep the copyright and licence records
    options.notdef_outline = True
    options.layout_features = ["*"] if keep_layout else []
    options.drop_tables += ["DSIG"]
    return options


def build_alphabetic(source: Path, name: str) -> Path:
    font = TTFont(source / name, recalcTimestamp=False)  # the same input gives the same bytes
    subsetter = subset.Subsetter(subset_options(keep_layout=True))
    subsetter.populate(unicodes=font.getBestCmap().keys())
    subsetter.subset(font)
    output = OUTPUT / name
    font.save(output)
    return output


def cff_to_truetype(font: TTFont) -> None:
    """Replace the CFF outlines with quadratic glyf outlines, in place (fontTools' otf2ttf recipe)."""
    glyph_order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in glyph_order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, CU2QU_MAX_ERROR, reverse_direction=True))
        glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    font["glyf"] = glyf = newTable("glyf")
    glyf.glyphOrder = glyph_order
    glyf.glyphs = glyphs
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    font["maxp"] = maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for field in (
        "maxZones",
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, field, 0)
    maxp.maxZones = 1
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = glyph_order
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\x00\x01\x00\x00"
    font.recalcBBoxes = True


def build_cjk(source: Path) -> Path:
    collection = TTCollection(source / CJK_SOURCE, recalcTimestamp=False)
    font = next(face for face in collection if face["name"].getDebugName(4) == CJK_FACE)
    subsetter = subset.Subsetter(subset_options(keep_layout=False))
    subsetter.populate(unicodes=cjk_name_characters() & set(font.getBestCmap()))
    subsetter.subset(font)
    cff_to_truetype(font)
    output = OUTPUT / CJK_OUTPUT
    font.save(output)
    return output


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    source = Path(argv[0])
    outputs = [build_alphabetic(source, name) for name in ALPHABETIC] + [build_cjk(source)]
    for output in outputs:
        print(f"{output.name}: {output.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
