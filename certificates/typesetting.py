"""Text in any script on a reportlab canvas: font choice, bidi, HarfBuzz shaping, fitting, drawing.

The fonts, one embedded family, are `certificates.fonts`.

A line of text goes through three steps, each done by a maintained library:
1. Font per character (`font_keys`): the first font of FONT_ORDER whose cmap has the character;
   spaces, punctuation, digits and marks stay in the font of the text around them, so a run is
   not split for a space.
2. Bidi (python-bidi's UAX #9 implementation): embedding levels per character, then runs of one
   level and one font, put in visual order (rule L2). An Arabic or Hebrew name reads right to
   left, a Latin word inside it left to right.
3. Shaping (uharfbuzz): each run becomes glyphs with advances and offsets, so Arabic letters join,
   lam-alef ligates, Devanagari forms conjuncts and reorders vowel signs, marks sit on their base.

Drawing: a line is one text object, font run by font run, each glyph where HarfBuzz put it
(horizontal corrections as TJ numbers, vertical mark offsets as text rise). A zero-width mark is
given a code as wide as the step from it to the next glyph, so the pen never jumps forward after
a mark: extractors read such a jump as a word space ("ঠাকু র"). Copying or extracting gives the
text as typed: the fonts' ToUnicode maps give each glyph its characters (see
`certificates.fonts`), a cluster drawn as several glyphs (a conjunct with its reordered vowel
sign, a letter with its points) is a marked-content span whose /ActualText is its characters,
and extractors put right-to-left runs back in logical order themselves (pypdf and pdfium, tested).
One miss left, pdfium's: it drops the word space after a Devanagari reph that ends a word
("दुर्गा गुप्ता" reads "दुर्गागुप्ता"), which pypdf reads right.

Untrusted text: strings are drawn as glyphs, never parsed as markup; `clean_text` first collapses
whitespace and control characters and drops invisible ones.

Speed: shaped lines are cached (`shape_line`), so the page's fixed wording is shaped once per
process, and so are the fonts' subsets (`certificates.fonts`).
"""

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import uharfbuzz
from bidi import algorithm as bidi_algorithm
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfgen.canvas import Canvas

from certificates.fonts import BASE_FONT, FONT_ORDER, clear_font_caches, coverage, font
from lms.text import display_text_clean

# Below this size text stops being legible on paper, so longer text is cut with an ellipsis.
MIN_FONT_SIZE = 6
ELLIPSIS = "\u2026"
REPLACEMENT = "\ufffd"
# Character categories that take the font of the text around them (see module doc).
NEUTRAL_CATEGORIES = frozenset({"Zs", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Nd"})
MARK_CATEGORIES = frozenset({"Mn", "Mc", "Me", "Cf"})
# Below this (thousandths of an em) a glyph is where the viewer's pen puts it: no TJ correction.
POSITION_TOLERANCE = 0.01
# A vertical mark offset smaller than this (thousandths of an em: 0.16 pt on a 32 pt name) is not
# drawn. It cannot be seen, and each rise splits the line into pieces: pdfium then repeated a
# Thai cluster whose mark HarfBuzz lowers by 2/1000 em ("ชั" of "วิชัย") when extracting the text.
RISE_TOLERANCE = 5
# Distinct lines whose shaping is kept: the page's fixed wording plus recent names and titles.
SHAPE_CACHE_SIZE = 4096


# --- Step 1: a font per character ------------------------------------------------------------


def font_keys(text: str) -> tuple[str, list[str | None]]:
    """`text` with uncovered characters replaced, and the font key of each of its characters."""
    if coverage(BASE_FONT).issuperset(map(ord, text)):
        return text, [BASE_FONT] * len(text)  # the common case: no other font needed
    chars = list(text)
    keys: list[str | None] = []
    for index, char in enumerate(chars):
        category = unicodedata.category(char)
        if category in NEUTRAL_CATEGORIES or category in MARK_CATEGORIES:
            keys.append(None)  # decided below, from its neighbours
            continue
        key = next((key for key in FONT_ORDER if ord(char) in coverage(key)), None)
        if key is None:
            chars[index], key = REPLACEMENT, BASE_FONT
        keys.append(key)
    # A neutral takes the font before it if that has it, else the next one's, else any that has it.
    previous = None
    for index, key in enumerate(keys):
        if key is not None:
            previous = key
            continue
        code = ord(chars[index])
        following = next((k for k in keys[index + 1 :] if k is not None), None)
        candidates = [k for k in (previous, following) if k is not None] + list(FONT_ORDER)
        key = next((k for k in candidates if code in coverage(k)), None)
        if key is None:
            chars[index], key = REPLACEMENT, BASE_FONT
        keys[index] = previous = key
    return "".join(chars), keys


# --- Step 2: bidi levels and visual order of runs --------------------------------------------


def _bidi_levels(text: str) -> list[int]:
    if text.isascii():
        return [0] * len(text)  # no right-to-left character, and clean_text removed the bidi controls
    storage = bidi_algorithm.get_empty_storage()
    base_level = bidi_algorithm.get_base_level(text)
    storage["base_level"], storage["base_dir"] = base_level, ("L", "R")[base_level]
    bidi_algorithm.get_embedding_levels(text, storage)
    for index, char in enumerate(storage["chars"]):
        char["index"] = index
    bidi_algorithm.explicit_embed_and_overrides(storage)
    bidi_algorithm.resolve_weak_types(storage)
    bidi_algorithm.resolve_neutral_types(storage, False)
    bidi_algorithm.resolve_implicit_levels(storage, False)
    # Rule X9 takes out boundary neutrals (the zero-width joiner and non-joiner, which clean_text
    # keeps): each takes the level of the character before it, so it stays in its word's run.
    levels: list[int | None] = [None] * len(text)
    for char in storage["chars"]:
        levels[char["index"]] = char["level"]
    previous = next((level for level in levels if level is not None), base_level)
    for index, level in enumerate(levels):
        levels[index] = previous = previous if level is None else level
    return levels


def _visual_order(levels: list[int]) -> list[int]:
    """Rule L2: from the highest level down to the lowest odd one, reverse every sequence of items
    at that level or higher. Returns the items' indices in visual order."""
    order = list(range(len(levels)))
    if not levels:
        return order
    lowest_odd = min(level for level in levels if level % 2) if any(level % 2 for level in levels) else None
    if lowest_odd is None:
        return order
    for level in range(max(levels), lowest_odd - 1, -1):
        index = 0
        while index < len(order):
            if levels[order[index]] >= level:
                end = index
                while end < len(order) and levels[order[end]] >= level:
                    end += 1
                order[index:end] = reversed(order[index:end])
                index = end
            else:
                index += 1
    return order


# --- Step 3: shaping ------------------------------------------------------------------------


@dataclass(frozen=True)
class GlyphRun:
    """Glyphs of one font, left to right, positions in thousandths of an em (TJ units).

    Within a cluster the glyphs that advance come first, then the zero-width marks placed on
    them: where each glyph lands is unchanged, but a text extractor meets the letter before its
    marks, also in right-to-left runs, where HarfBuzz puts the marks first.
    """

    font_key: str
    glyphs: tuple[int, ...]  # glyph ids in the font
    codes: str  # one character per glyph, as reportlab's subsetter takes them
    x: tuple[float, ...]  # where each glyph's origin lands, from the start of the run
    advances: tuple[float, ...]  # each glyph's own advance, which the PDF viewer applies
    rise: tuple[float, ...]  # vertical offset of each glyph
    width: float  # advance of the run, in ems
    ascent: float  # highest ink above the baseline, in ems
    descent: float  # lowest ink below the baseline, in ems (positive)
    # (first glyph, last glyph, text) of each cluster drawn with more than one glyph
    spans: tuple[tuple[int, int, str], ...] = ()


@dataclass(frozen=True)
class ShapedLine:
    text: str  # the cleaned text, in logical order
    bold: bool
    runs: tuple[GlyphRun, ...]  # in visual order, left to right
    width: float  # in ems: multiply by the font size for points
    ascent: float  # ink extent above and below the baseline, in ems (see GlyphRun)
    descent: float


@lru_cache(maxsize=SHAPE_CACHE_SIZE)
def shape_line(text: str, bold: bool) -> ShapedLine:
    """`text` (already cleaned: one line, no control characters) as positioned glyphs."""
    text, keys = font_keys(text)
    levels = _bidi_levels(text)
    spans: list[tuple[int, int, str, int]] = []  # (start, end, font key, level) in logical order
    for index, (key, level) in enumerate(zip(keys, levels, strict=True)):
        if spans and spans[-1][2] == key and spans[-1][3] == level:
            spans[-1] = (spans[-1][0], index + 1, key, level)
        else:
            spans.append((index, index + 1, key, level))
    order = _visual_order([level for *_, level in spans])
    runs = tuple(
        _shape_run(text[start:end], key, bold, rtl=level % 2 == 1)
        for start, end, key, level in (spans[i] for i in order)
    )
    return ShapedLine(
        text=text,
        bold=bold,
        runs=runs,
        width=sum(run.width for run in runs),
        ascent=max((run.ascent for run in runs), default=0.0),
        descent=max((run.descent for run in runs), default=0.0),
    )


def _shape_run(text: str, key: str, bold: bool, *, rtl: bool) -> GlyphRun:
    shaping_font = font(key, bold)
    buffer = uharfbuzz.Buffer()
    buffer.add_str(text)
    buffer.direction = "rtl" if rtl else "ltr"
    buffer.guess_segment_properties()
    uharfbuzz.shape(shaping_font.hb_font, buffer)
    infos, positions = buffer.glyph_infos, buffer.glyph_positions
    scale = 1000 / shaping_font.units_per_em
    # Each cluster's characters go to its first glyph in logical order; the others stand for none.
    clusters = sorted({info.cluster for info in infos})
    cluster_end = dict(zip(clusters, [*clusters[1:], len(text)], strict=True))
    seen: set[int] = set()
    logical = range(len(infos) - 1, -1, -1) if rtl else range(len(infos))
    texts = [""] * len(infos)
    for index in logical:
        cluster = infos[index].cluster
        if cluster not in seen:
            seen.add(cluster)
            texts[index] = text[cluster : cluster_end[cluster]]
    # Glyph positions: the pen moves by each advance, a glyph lands at the pen plus its offset.
    placed = []  # (cluster, advance, x, y, glyph, text), in HarfBuzz's (visual) order
    pen = 0
    top = bottom = 0
    extents = shaping_font.hb_font.get_glyph_extents
    for info, position, glyph_text in zip(infos, positions, texts, strict=True):
        placed.append(
            (info.cluster, position.x_advance, pen + position.x_offset, position.y_offset, info.codepoint, glyph_text)
        )
        pen += position.x_advance
        ink = extents(info.codepoint)
        if ink is not None:
            top = max(top, position.y_offset + ink.y_bearing)
            bottom = min(bottom, position.y_offset + ink.y_bearing + ink.height)
    # Emit order (see GlyphRun): per cluster, advancing glyphs first, then zero-width marks.
    ordered, spans = [], []
    start = 0
    for index in range(1, len(placed) + 1):
        if index == len(placed) or placed[index][0] != placed[start][0]:
            cluster = placed[start:index]
            first = len(ordered)
            ordered += [item for item in cluster if item[1]] + [item for item in cluster if not item[1]]
            if len(cluster) > 1:
                spans.append((first, len(ordered) - 1, text[cluster[0][0] : cluster_end[cluster[0][0]]]))
            start = index
    codes = _codes(shaping_font, ordered, pen, scale)
    widths = shaping_font.face.charWidths
    return GlyphRun(
        font_key=key,
        glyphs=tuple(item[4] for item in ordered),
        codes=codes,
        x=tuple(item[2] * scale for item in ordered),
        advances=tuple(widths[ord(code)] for code in codes),
        rise=tuple(rise if abs(rise := item[3] * scale) >= RISE_TOLERANCE else 0.0 for item in ordered),
        width=pen / shaping_font.units_per_em,
        ascent=top / shaping_font.units_per_em,
        descent=-bottom / shaping_font.units_per_em,
        spans=tuple(spans),
    )


def _codes(shaping_font, ordered: list[tuple], end: int, scale: float) -> str:
    """One code per glyph (in emit order). A zero-width mark after which the pen must jump right
    to the next glyph (a mark below the middle of its letter, Thai marks before the next
    cluster) takes a code as wide as that jump: no extractor reads the jump as a word space."""
    hmetrics = shaping_font.face.hmetrics
    codes = []
    for index, (_, _, x, _, glyph, text) in enumerate(ordered):
        advance = None
        if not hmetrics[glyph][0]:
            following = ordered[index + 1][2] if index + 1 < len(ordered) else end
            gap = round((following - x) * scale)
            advance = gap if gap > 0 else None
        codes.append(shaping_font.glyph_code(glyph, text, advance))
    return "".join(codes)


# --- Drawing --------------------------------------------------------------------------------


def draw_shaped_line(canvas: Canvas, line: ShapedLine, *, x: float, y: float, size: float) -> None:
    """Draw `line` with its left end at x on baseline y, in the current fill colour."""
    doc = canvas._doc  # reportlab's font subsets are per document
    operators = ["BT", f"1 0 0 1 {fp_str(x)} {fp_str(y)} Tm"]
    items: list[str] = []  # the TJ array being built: numbers and hex strings of glyph codes
    for run in line.runs:
        shaping_font = font(run.font_key, line.bold)
        span_starts = {first: text for first, _, text in run.spans}
        span_ends = {last for _, last, _ in run.spans}
        cursor = 0.0  # where the viewer's pen is, from the start of the run, in TJ units
        glyph = 0
        for subset, chunk in shaping_font.splitString(run.codes, doc):
            _flush(operators, items)
            operators.append(f"{shaping_font.getSubsetInternalName(subset, doc)} {fp_str(size)} Tf")
            for byte in chunk:
                if glyph in span_starts:
                    _flush(operators, items)
                    operators.append(f"/Span <</ActualText {_utf16_hex(span_starts[glyph])}>> BDC")
                rise = run.rise[glyph]
                if rise:
                    _flush(operators, items)
                    operators.append(f"{fp_str(rise * size / 1000)} Ts")
                shift = run.x[glyph] - cursor
                if abs(shift) > POSITION_TOLERANCE:
                    items.append(fp_str(-shift))  # a TJ number moves the pen left by itself
                if items and items[-1][0] == "<":
                    items[-1] = f"{items[-1][:-1]}{byte:02X}>"
                else:
                    items.append(f"<{byte:02X}>")
                cursor = run.x[glyph] + run.advances[glyph]
                if rise:
                    _flush(operators, items)
                    operators.append("0 Ts")
                if glyph in span_ends:
                    _flush(operators, items)
                    operators.append("EMC")
                glyph += 1
        shift = run.width * 1000 - cursor
        if abs(shift) > POSITION_TOLERANCE:
            items.append(fp_str(-shift))
    _flush(operators, items)
    operators.append("ET")
    canvas.addLiteral("\n".join(operators))


def _utf16_hex(text: str) -> str:
    return f"<FEFF{text.encode('utf-16-be').hex().upper()}>"


def _flush(operators: list[str], items: list[str]) -> None:
    if items:
        operators.append(f"[{' '.join(items)}] TJ")
        items.clear()


# --- Fitting ---------------------------------------------------------------------------------


def fit_line(
    line: ShapedLine, *, size: float, max_width: float, min_size: float = MIN_FONT_SIZE
) -> tuple[ShapedLine, float]:
    """Shrink `line` to fit `max_width`, down to `min_size`; below that, cut it with an ellipsis."""
    if line.width * size <= max_width:
        return line, size
    if line.width and max_width / line.width >= min_size:
        return line, max_width / line.width
    return cut_line(line.text, bold=line.bold, size=min_size, max_width=max_width), min_size


def cut_line(text: str, *, bold: bool, size: float, max_width: float) -> ShapedLine:
    """The longest start of `text`, ended with an ellipsis, that fits `max_width` at `size`."""

    def cut(length: int) -> ShapedLine:
        while 0 < length < len(text) and unicodedata.category(text[length])[0] == "M":
            length -= 1  # never part a letter from its marks
        return shape_line(text[:length].rstrip() + ELLIPSIS, bold)

    shortest, longest = 0, len(text)
    while shortest < longest:  # shaping is contextual, so search rather than add up widths
        middle = (shortest + longest + 1) // 2
        if cut(middle).width * size <= max_width:
            shortest = middle
        else:
            longest = middle - 1
    return cut(shortest)


def clean_text(text: str) -> str:
    """`text` as one line: whitespace and control characters collapsed, invisible ones dropped.

    The one cleaner of names for every door (lms/text.py): NFC, so "e" + combining diaeresis is
    the single "ë" the font has a glyph for; bidi controls removed, so nothing reorders the page;
    the zero-width (non-)joiner kept inside a word, where Persian and Indic names need it."""
    return display_text_clean(text)


def clear_caches() -> None:
    """Forget every shaped line and embedded subset (for measuring what the caches save)."""
    shape_line.cache_clear()
    clear_font_caches()
