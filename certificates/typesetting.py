"""Text in any script on a reportlab canvas: font choice, bidi, HarfBuzz shaping, fitting, drawing.

One type family, all embedded: Noto Sans for Latin, Greek and Cyrillic, with its sister fonts
Noto Sans Arabic, Hebrew, Devanagari and CJK, designed to sit together on one line. The files
are committed in `certificates/fonts/` (SIL Open Font License, beside them; how they were cut
from the upstream release: scripts/build_certificate_fonts.py), so nothing depends on the
viewer's or the server's fonts.

A line of text goes through three steps, each done by a maintained library:
1. Font per character (`font_keys`): the first font of FONT_ORDER whose cmap has the character;
   spaces, punctuation, digits and marks stay in the font of the text around them, so a run is
   not split for a space.
2. Bidi (python-bidi's UAX #9 implementation): embedding levels per character, then runs of one
   level and one font, put in visual order (rule L2). An Arabic or Hebrew name reads right to
   left, a Latin word inside it left to right.
3. Shaping (uharfbuzz): each run becomes glyphs with advances and offsets, so Arabic letters join,
   lam-alef ligates, Devanagari forms conjuncts and reorders vowel signs, marks sit on their base.

Drawing: the glyphs are written as one text object with a TJ array per font run (the advance and
offset corrections HarfBuzz asks for as TJ numbers, vertical mark offsets as text rise), inside a
marked-content span whose /ActualText is the line in logical order, so copying or extracting the
text gives the name as typed. reportlab embeds each font's used glyphs as a subset. A glyph that
has no character of its own (a joined Arabic form, a conjunct) is given a private code, and the
font's ToUnicode map sends it to the characters it was shaped from.

Speed: shaped lines are cached (`shape_line`), so the page's fixed wording is shaped once per
process; the fonts are parsed once; and a font subset made of the same glyphs as a previous
document's (every Latin name uses subset 0, which always holds ASCII) is reused, not rebuilt.
"""

import unicodedata
import zlib
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import uharfbuzz
from bidi import algorithm as bidi_algorithm
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, SUBSETN, TTFont, TTFontFace
from reportlab.pdfgen.canvas import Canvas

FONT_DIR = Path(__file__).resolve().parent / "fonts"
# key -> (regular file, bold file). CJK text is only ever bold on a certificate (names and course
# titles), so one weight of the large CJK font is committed and serves both.
FONT_FILES = {
    "latin": ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf"),
    "arabic": ("NotoSansArabic-Regular.ttf", "NotoSansArabic-Bold.ttf"),
    "hebrew": ("NotoSansHebrew-Regular.ttf", "NotoSansHebrew-Bold.ttf"),
    "devanagari": ("NotoSansDevanagari-Regular.ttf", "NotoSansDevanagari-Bold.ttf"),
    "cjk": ("NotoSansCJKsc-Bold-Names.ttf", "NotoSansCJKsc-Bold-Names.ttf"),
}
FONT_ORDER = tuple(FONT_FILES)  # the first font that has a character draws it
BASE_FONT = "latin"
ELLIPSIS = "\u2026"
REPLACEMENT = "\ufffd"
# Private codes for glyphs without a character of their own, from the Supplementary Private Use
# Areas, which no font here maps, so a private code never shadows a real character. A glyph
# standing for some text gets a code of plane 16, one per (glyph, text) pair, first come first
# served; a glyph standing for no text (the second glyph of a cluster), or any glyph once
# plane 16 is used up, gets plane 15's code for its glyph id, which always exists: a worker that
# has shaped 65,534 different pairs still renders, only copying such text gives less back.
GLYPH_CODE_START = 0xF0000  # + glyph id (< 65,536)
TEXT_CODE_START, TEXT_CODE_END = 0x100000, 0x10FFFD
# Character categories that take the font of the text around them (see module doc).
NEUTRAL_CATEGORIES = frozenset({"Zs", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Nd"})
MARK_CATEGORIES = frozenset({"Mn", "Mc", "Me", "Cf"})
# Below this (thousandths of an em) a glyph is where the viewer's pen puts it: no TJ correction.
POSITION_TOLERANCE = 0.01
# Distinct lines whose shaping is kept: the page's fixed wording plus recent names and titles.
SHAPE_CACHE_SIZE = 4096
# Font subsets whose embedded bytes are kept, per font: identical glyph sets across documents.
SUBSET_CACHE_SIZE = 64


class ShapingFont(TTFont):
    """A TrueType font that can draw HarfBuzz glyphs, with a ToUnicode map for each of them."""

    def __init__(self, name: str, path: Path):
        super().__init__(name, str(path), asciiReadable=1, shapable=False)
        self.face.__class__ = _CachingFace
        self.hb_font = uharfbuzz.Font(uharfbuzz.Face(uharfbuzz.Blob(path.read_bytes())))
        self.units_per_em = self.hb_font.face.upem
        self.private_text: dict[int, str] = {}  # private code -> the characters it stands for
        self._private_codes: dict[tuple[int, str], int] = {}
        self._next_private = TEXT_CODE_START
        self._objects_cache: dict[tuple, tuple] = {}

    def glyph_code(self, glyph: int, text: str) -> str:
        """The character reportlab is given for `glyph` standing for `text` (see module doc)."""
        face = self.face
        if len(text) == 1 and face.charToGlyph.get(ord(text)) == glyph:
            return text
        code = self._private_codes.get((glyph, text))
        if code is None:
            if text and self._next_private <= TEXT_CODE_END:
                code = self._next_private
                self._next_private += 1
            else:
                code = GLYPH_CODE_START + glyph
            self._private_codes[(glyph, text)] = code
            if code not in self.private_text:
                face.charToGlyph[code] = glyph
                face.charWidths[code] = face.hmetrics[glyph][0] * 1000 / self.units_per_em
                self.private_text[code] = text if code >= TEXT_CODE_START else ""
        return chr(code)

    def addObjects(self, doc):
        # reportlab's own, but with a ToUnicode map that knows the private codes' text.
        state = self._assignState(doc)
        state.frozen = 1
        for index, subset in enumerate(state.subsets):
            internal_name = self.getSubsetInternalName(index, doc)[1:]
            base_name = (b"".join((SUBSETN(index), b"+", self.face.name, self.face.subfontNameX))).decode("pdfdoc")
            pdf_font = pdfdoc.PDFTrueTypeFont()
            pdf_font.__Comment__ = f"Font {self.fontName} subset {index}"
            pdf_font.Name = internal_name
            pdf_font.BaseFont = base_name
            pdf_font.FirstChar = 0
            pdf_font.LastChar = len(subset) - 1
            widths, cmap_dictionary, cmap_content = self._subset_objects(doc, index, base_name, subset)
            pdf_font.Widths = widths
            cmap = pdfdoc.PDFStream(pdfdoc.PDFDictionary(dict(cmap_dictionary)), cmap_content, filters=[])
            pdf_font.ToUnicode = doc.Reference(cmap, "toUnicodeCMap:" + base_name)
            pdf_font.FontDescriptor = self.face.addSubsetObjects(doc, base_name, subset)
            doc.Reference(pdf_font, internal_name)
            doc.idToObject["BasicFonts"].dict[internal_name] = pdf_font
        del self.state[doc]

    def _subset_objects(self, doc, index: int, base_name: str, subset: list[int]) -> tuple:
        """The subset's widths and ToUnicode map, formatted and compressed once per glyph set."""
        key = (index, tuple(subset), bool(doc.compression))
        objects = _lru_get(self._objects_cache, key)
        if objects is None:
            widths = _Formatted(pdfdoc.format(pdfdoc.PDFArray(list(map(self.face.getCharWidth, subset))), doc))
            texts = [self.private_text.get(code, chr(code)) if code else None for code in subset]
            cmap = _to_unicode_cmap(base_name, texts).encode()
            dictionary = {}
            if doc.compression:
                cmap = zlib.compress(cmap)
                dictionary["Filter"] = pdfdoc.PDFName(pdfdoc.PDFZCompress.pdfname)
            objects = _lru_put(self._objects_cache, key, (widths, dictionary, cmap))
        return objects


class _Formatted(pdfdoc.PDFObject):
    """A PDF value formatted once, written as is into every document that uses it."""

    def __init__(self, data: bytes):
        self.data = data

    def format(self, document) -> bytes:
        return self.data


class _CachingFace(TTFontFace):
    """reportlab's font face, keeping the last few subsets it embedded, compressed (module doc)."""

    def addSubsetObjects(self, doc, fontname, subset):
        # reportlab's own, but the font file is built and compressed once per set of glyphs.
        cache = self.__dict__.setdefault("_subset_cache", {})
        key = (tuple(subset), bool(doc.compression))
        font_file = _lru_get(cache, key)
        if font_file is None:
            content = self.makeSubset(subset)
            dictionary = {"Length1": len(content)}
            if doc.compression:
                content = zlib.compress(content)
                dictionary["Filter"] = pdfdoc.PDFName(pdfdoc.PDFZCompress.pdfname)
            font_file = _lru_put(cache, key, (dictionary, content))
        dictionary, content = font_file
        stream = pdfdoc.PDFStream(pdfdoc.PDFDictionary(dict(dictionary)), content, filters=[])
        font_file_ref = doc.Reference(stream, f"fontFile:{self.filename}({fontname})")
        descriptor = pdfdoc.PDFDictionary(
            {
                "Type": "/FontDescriptor",
                "Ascent": self.ascent,
                "CapHeight": self.capHeight,
                "Descent": self.descent,
                "Flags": (self.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC,
                "FontBBox": pdfdoc.PDFArray(self.bbox),
                "FontName": pdfdoc.PDFName(fontname),
                "ItalicAngle": self.italicAngle,
                "StemV": self.stemV,
                "FontFile2": font_file_ref,
                "MissingWidth": self.defaultWidth,
            }
        )
        return doc.Reference(descriptor, "fontDescriptor:" + fontname)


def _lru_get(cache: dict, key):
    # A dict keeps insertion order: a hit moves to the end, so the oldest unused entry goes first
    # (the ASCII subset every Latin name shares is never pushed out by a run of rarer names).
    value = cache.pop(key, None)
    if value is not None:
        cache[key] = value
    return value


def _lru_put(cache: dict, key, value):
    if len(cache) >= SUBSET_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = value
    return value


def _to_unicode_cmap(name: str, texts: list[str | None]) -> str:
    # None: a slot of the subset no glyph uses. "": a glyph that stands for no text of its own.
    entries = [
        f"<{code:02X}> <{text.encode('utf-16-be').hex().upper()}>"
        for code, text in enumerate(texts)
        if text is not None
    ]
    return "\n".join(
        [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            f"/CIDSystemInfo << /Registry ({name}) /Ordering ({name}) /Supplement 0 >> def",
            f"/CMapName /{name} def",
            "/CMapType 2 def",
            "1 begincodespacerange",
            "<00> <FF>",
            "endcodespacerange",
            f"{len(entries)} beginbfchar",
            *entries,
            "endbfchar",
            "endcmap",
            "CMapName currentdict /CMap defineresource pop",
            "end",
            "end",
        ]
    )


@cache
def font(key: str, bold: bool) -> ShapingFont:
    """The registered font for `key` (of FONT_FILES) and weight; parsed once per process."""
    regular, bold_file = FONT_FILES[key]
    if not bold and regular == bold_file:
        return font(key, True)  # one weight serves both: parse and embed it once
    file = bold_file if bold else regular
    name = Path(file).stem.removesuffix("-Names")
    registered = ShapingFont(name, FONT_DIR / file)
    pdfmetrics.registerFont(registered)
    _REGISTERED.append(registered)
    return registered


_REGISTERED: list[ShapingFont] = []


def clear_caches() -> None:
    """Forget every shaped line and embedded subset (for measuring what the caches save)."""
    shape_line.cache_clear()
    for registered in _REGISTERED:
        registered._objects_cache.clear()
        registered.face.__dict__.pop("_subset_cache", None)


@cache
def _coverage(key: str) -> frozenset[int]:
    return frozenset(font(key, True).face.charToGlyph)


def font_name(key: str, bold: bool) -> str:
    return font(key, bold).fontName


# --- Step 1: a font per character ------------------------------------------------------------


def font_keys(text: str) -> tuple[str, list[str | None]]:
    """`text` with uncovered characters replaced, and the font key of each of its characters."""
    if _coverage(BASE_FONT).issuperset(map(ord, text)):
        return text, [BASE_FONT] * len(text)  # the common case: no other font needed
    chars = list(text)
    keys: list[str | None] = []
    for index, char in enumerate(chars):
        category = unicodedata.category(char)
        if category in NEUTRAL_CATEGORIES or category in MARK_CATEGORIES:
            keys.append(None)  # decided below, from its neighbours
            continue
        key = next((key for key in FONT_ORDER if ord(char) in _coverage(key)), None)
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
        key = next((k for k in candidates if code in _coverage(k)), None)
        if key is None:
            chars[index], key = REPLACEMENT, BASE_FONT
        keys[index] = previous = key
    return "".join(chars), keys


# --- Step 2: bidi levels and visual order of runs --------------------------------------------


def _bidi_levels(text: str) -> list[int]:
    if text.isascii():
        return [0] * len(text)  # no right-to-left character, and _clean removed the bidi controls
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
    # Rule X9 takes out boundary neutrals (the zero-width joiner and non-joiner, which _clean
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
    hmetrics = shaping_font.face.hmetrics
    return GlyphRun(
        font_key=key,
        glyphs=tuple(item[4] for item in ordered),
        codes="".join(shaping_font.glyph_code(item[4], item[5]) for item in ordered),
        x=tuple(item[2] * scale for item in ordered),
        advances=tuple(hmetrics[item[4]][0] * scale for item in ordered),
        rise=tuple(item[3] * scale for item in ordered),
        width=pen / shaping_font.units_per_em,
        ascent=top / shaping_font.units_per_em,
        descent=-bottom / shaping_font.units_per_em,
        spans=tuple(spans),
    )


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
