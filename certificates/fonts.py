"""The certificate's fonts: the Noto Sans family, registered with reportlab, embedded as subsets.

One type family, all embedded: Noto Sans for Latin, Greek and Cyrillic, with its sister fonts
Noto Sans Arabic, Hebrew, Devanagari, Bengali, Tamil, Thai and CJK, designed to sit together on
one line. The files are committed in `certificates/fonts/` (SIL Open Font License, beside them;
how they were cut from the upstream release: scripts/build_certificate_fonts.py), so nothing
depends on the viewer's or the server's fonts.

Coverage and its limits: Latin (with Vietnamese), Greek, Cyrillic, Arabic (with Persian and
Urdu letters), Hebrew, Devanagari, Bengali (with Assamese), Tamil, Thai, and the CJK characters
of names (see the build script: GB 2312, JIS X 0208, Big5 level 1, KS X 1001 Hangul). The CJK
subset is cut from the Simplified Chinese face, so a few Kanji and traditional Hanzi show Chinese
details (the stroke inside 直, say) rather than their Japanese or Taiwanese forms. Other scripts
(Telugu, Khmer, Ethiopic, emoji...) print U+FFFD: adding one is a Noto font more in FONT_FILES
and in the build script.

`ShapingFont` is reportlab's TrueType font taught to draw HarfBuzz's glyphs: a glyph that has no
character of its own (a joined Arabic form, a conjunct) is given a private code, and the font's
ToUnicode map sends it to the characters it was shaped from, so copied text reads as typed.

Speed: the fonts are parsed once per process, and a subset made of the same glyphs as a previous
document's (every Latin name uses subset 0, which always holds ASCII) is embedded from bytes
built and compressed once, with its widths and ToUnicode map.

Like reportlab's own fonts, these are process state, shared by every document the process
renders; what they change as they go (private codes, subset caches) changes under one lock, so
threads may render at once (reportlab keeps each document's subsets apart itself).
"""

import threading
import zlib
from functools import cache
from pathlib import Path

import uharfbuzz
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, SUBSETN, TTFont, TTFontFace

FONT_DIR = Path(__file__).resolve().parent / "fonts"
# key -> (regular file, bold file). CJK text is only ever bold on a certificate (names and course
# titles), so one weight of the large CJK font is committed and serves both.
FONT_FILES = {
    "latin": ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf"),
    "arabic": ("NotoSansArabic-Regular.ttf", "NotoSansArabic-Bold.ttf"),
    "hebrew": ("NotoSansHebrew-Regular.ttf", "NotoSansHebrew-Bold.ttf"),
    "devanagari": ("NotoSansDevanagari-Regular.ttf", "NotoSansDevanagari-Bold.ttf"),
    "bengali": ("NotoSansBengali-Regular.ttf", "NotoSansBengali-Bold.ttf"),
    "tamil": ("NotoSansTamil-Regular.ttf", "NotoSansTamil-Bold.ttf"),
    "thai": ("NotoSansThai-Regular.ttf", "NotoSansThai-Bold.ttf"),
    "cjk": ("NotoSansCJKsc-Bold-Names.ttf", "NotoSansCJKsc-Bold-Names.ttf"),
}
FONT_ORDER = tuple(FONT_FILES)  # the first font that has a character draws it
BASE_FONT = "latin"
# Private codes for glyphs without a character of their own, from the Supplementary Private Use
# Areas, which no font here maps, so a private code never shadows a real character. A glyph
# standing for some text gets a code of plane 16, one per (glyph, text) pair, first come first
# served; a glyph standing for no text (the second glyph of a cluster), or any glyph once
# plane 16 is used up, gets plane 15's code for its glyph id, which always exists: a worker that
# has shaped 65,534 different pairs still renders, only copying such text gives less back.
# A zero-width mark followed by a gap (the next letter starts right of the mark) gets a plane-16
# code per (glyph, text, advance) whose width in the PDF is that gap, so the pen reaches the next
# letter by the mark's own advance: a text extractor sees no jump to read as a word space.
GLYPH_CODE_START = 0xF0000  # + glyph id (< 65,536)
TEXT_CODE_START, TEXT_CODE_END = 0x100000, 0x10FFFD
# Font subsets whose embedded bytes are kept, per font: identical glyph sets across documents.
SUBSET_CACHE_SIZE = 64
_LOCK = threading.Lock()  # see the module doc


class ShapingFont(TTFont):
    """A TrueType font that can draw HarfBuzz glyphs, with a ToUnicode map for each of them."""

    def __init__(self, name: str, path: Path):
        super().__init__(name, str(path), asciiReadable=1, shapable=False)
        self.face.__class__ = _CachingFace
        self.hb_font = uharfbuzz.Font(uharfbuzz.Face(uharfbuzz.Blob(path.read_bytes())))
        self.units_per_em = self.hb_font.face.upem
        self.private_text: dict[int, str] = {}  # private code -> the characters it stands for
        self._private_codes: dict[tuple[int, str, int | None], int] = {}
        self._next_private = TEXT_CODE_START
        self._objects_cache: dict[tuple, tuple] = {}

    def glyph_code(self, glyph: int, text: str, advance: int | None = None) -> str:
        """The character reportlab is given for `glyph` standing for `text` (see module doc).

        `advance` (thousandths of an em) asks for a code whose width in the PDF is that rather
        than the glyph's own; `face.charWidths` of the code returned says which it got."""
        face = self.face
        if advance is None and len(text) == 1 and face.charToGlyph.get(ord(text)) == glyph:
            return text
        code = self._private_codes.get((glyph, text, advance))
        if code is None:
            with _LOCK:
                return chr(self._new_code(glyph, text, advance))
        return chr(code)

    def _new_code(self, glyph: int, text: str, advance: int | None) -> int:
        face = self.face
        key = (glyph, text, advance)
        code = self._private_codes.get(key)  # another thread may have been first
        if code is None:
            if (text or advance is not None) and self._next_private <= TEXT_CODE_END:
                code = self._next_private
                self._next_private += 1
            else:
                code = GLYPH_CODE_START + glyph
            self._private_codes[key] = code
            if code not in self.private_text:
                own = face.hmetrics[glyph][0] * 1000 / self.units_per_em
                face.charToGlyph[code] = glyph
                face.charWidths[code] = advance if advance is not None and code >= TEXT_CODE_START else own
                self.private_text[code] = text if code >= TEXT_CODE_START else ""
        return code

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
    with _LOCK:
        value = cache.pop(key, None)
        if value is not None:
            cache[key] = value
        return value


def _lru_put(cache: dict, key, value):
    with _LOCK:
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


def clear_font_caches() -> None:
    """Forget every embedded subset (for measuring what the caches save)."""
    for registered in _REGISTERED:
        registered._objects_cache.clear()
        registered.face.__dict__.pop("_subset_cache", None)


@cache
def coverage(key: str) -> frozenset[int]:
    """The characters the font `key` has a glyph for."""
    return frozenset(font(key, True).face.charToGlyph)


def font_name(key: str, bold: bool) -> str:
    return font(key, bold).fontName
