"""Certificate rendering per script of the learner's name, against a naive renderer and bare pages.

    python -m bench certificates --n 500      # the figures in docs/benchmarks.md
    python -m bench certificates --smoke      # a handful of renders, for CI
    python -m bench certificates --profile    # cProfile of our renderer, busiest functions first
    python -m bench certificates --profile --variants ours_arabic   # ... rendering Arabic names

Method: the machine is shared and noisy, so all variants run in one process in alternating
batches (round robin, the order rotated every round) and any drift hits each of them alike.
Every batch is timed with time.process_time (CPU seconds of this single-threaded process, i.e.
of one core) and time.perf_counter (wall clock); rates are certificates per CPU second, which is
certificates per second per core.

Names: every variant "ours, <script> name" renders names of that script, each name new to the
process (see NAME_PARTS), so its shaping is not cached; the page's fixed wording is, as in a
long-running worker. "caches emptied" shows what those caches save.
"""

import argparse
import cProfile
import datetime
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from importlib.metadata import version
from pathlib import Path

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.pdfgen.canvas import Canvas

from certificates import typesetting
from certificates.pdf import (
    PAGE_SIZE,
    QR_BOOST_ERROR,
    QR_ERROR,
    QR_QUIET_ZONE,
    draw_certificate,
    draw_qr_code,
    new_canvas,
    render_certificate_pdf,
)

RESULTS_FILE = Path(__file__).resolve().parent / "results" / "certificates.json"
# Renders per batch: long enough (~0.1 s) that timer resolution does not matter, short enough
# that a burst of load from a neighbour lands in many batches of every variant, not one variant.
DEFAULT_BATCH = 25
SMOKE_N = 5
WARM_UP = 3  # renders per variant before timing: imports, font registration, first-call caches

Renderer = Callable[..., bytes]


# --- The baseline: reportlab's own QR widget, drawn through a Drawing ------------------------


def render_certificate_pdf_naive(
    *,
    learner_name: str,
    course_title: str,
    completed_on: datetime.date,
    certificate_number: str,
    verify_url: str,
) -> bytes:
    """The same certificate drawn the naive way: QrCodeWidget in a Drawing, reportlab defaults."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=PAGE_SIZE)
    draw_certificate(
        canvas,
        learner_name=learner_name,
        course_title=course_title,
        completed_on=completed_on,
        certificate_number=certificate_number,
        verify_url=verify_url,
        draw_qr=_draw_qr_widget,
    )
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_qr_widget(canvas: Canvas, data: str, *, x: float, y: float, size: float) -> tuple[float, float, float]:
    widget = QrCodeWidget(data, barLevel=QR_ERROR.upper(), barBorder=QR_QUIET_ZONE, barWidth=size, barHeight=size)
    drawing = Drawing(size, size)
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)
    module = size / (widget.qr.getModuleCount() + 2 * QR_QUIET_ZONE)
    return x + QR_QUIET_ZONE * module, y + QR_QUIET_ZONE * module, size - 2 * QR_QUIET_ZONE * module


# --- Other variants --------------------------------------------------------------------------


def render_bare_page(**fields) -> bytes:
    """Our page with its frame and text but no QR code: the floor any renderer starts from."""
    return _render_with(new_canvas, lambda canvas, data, *, x, y, size: (x, y, size), **fields)


def render_uncompressed(**fields) -> bytes:
    """Our renderer with pageCompression=0, to show what compressing the page costs."""
    return _render_with(lambda buffer: new_canvas(buffer, page_compression=0), None, **fields)


def segno_matrix(data: str, *, error: str) -> list[bytearray]:
    """The QR modules from segno, the pure-Python encoder the certificates used before
    zxing-cpp: the same ISO/IEC 18004 mask selection, scored in Python."""
    import segno

    return segno.make(data, error=error, boost_error=QR_BOOST_ERROR, micro=False).matrix


def render_segno(**fields) -> bytes:
    """Our renderer with segno's QR encoder (the one before): what zxing-cpp saves."""
    return _render_with(new_canvas, partial(draw_qr_code, encode=segno_matrix), **fields)


def render_error_q(**fields) -> bytes:
    """Our renderer with QR error correction Q outright instead of M (see QR_ERROR)."""
    return _render_with(new_canvas, partial(draw_qr_code, error="q"), **fields)


def _render_with(make_canvas, draw_qr, **fields) -> bytes:
    buffer = io.BytesIO()
    canvas = make_canvas(buffer)
    draw_certificate(canvas, draw_qr=draw_qr, **fields)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def render_minimal_page(*, learner_name: str, **_) -> bytes:
    """A bare reportlab page: one line of Helvetica, nothing embedded. The floor of any render."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=PAGE_SIZE, invariant=1)
    canvas.setFont("Helvetica", 12)
    canvas.drawString(72, 300, learner_name.encode("ascii", "replace").decode())
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def render_cold(**fields) -> bytes:
    """Our renderer with every text cache emptied first: what the caches save (see typesetting)."""
    typesetting.clear_caches()
    return render_certificate_pdf(**fields)


# Names per script: a given name, a second name and a family name from three lists, so up to
# 8 x 8 x 8 = 512 renders in a row each shape a name never seen before (no shaping cache hit),
# as in production, where every learner's name is new.
NAME_PARTS = {
    "latin": (
        "Ada Grace Alan Katherine Edsger Barbara John Margaret",
        "Mary Louise James Ann Peter Rose Paul Jane",
        "Lovelace Hopper Turing Johnson Dijkstra Liskov Backus Hamilton",
    ),
    "accented": (
        "Zoë Łukasz Ørjan Renée Jürgen Ñuño Çağla Tomáš",
        "Élodie Søren Ivo Anaïs Paweł Ines Göran Hồng",
        "Şahin Nguyễn Müller Dvořák Østergård Kowalczyk Lefèvre Łęcki",
    ),
    "cyrillic": (
        "Дмитрий Анна Сергей Мария Олег Елена Иван Ольга",
        "Андреевич Павловна Ильич Сергеевна Петрович Ивановна Юрьевич Олеговна",
        "Иванов Смирнова Кузнецов Попова Соколов Лебедева Козлов Новикова",
    ),
    "greek": (
        "Αλέξανδρος Μαρία Γιώργος Ελένη Νίκος Σοφία Δημήτρης Κατερίνα",
        "Ιωάννης Άννα Κωνσταντίνος Χριστίνα Παναγιώτης Ευαγγελία Βασίλειος Δέσποινα",
        "Παπαδόπουλος Οικονόμου Γεωργίου Νικολάου Αντωνίου Καραγιάννη Βλάχος Ζαχαρίου",
    ),
    "arabic": (
        "محمد فاطمة أحمد عائشة علي مريم يوسف خديجة",
        "عبد الله حسن إبراهيم سلمان خالد نور سعيد",
        "الحسيني المصري العلي الخطيب الزهراني القحطاني البغدادي الشامي",
    ),
    "hebrew": (
        "דוד שרה יוסף רחל משה מרים אברהם לאה",
        "בנימין רבקה יעקב חנה אליהו אסתר שמואל דבורה",
        "כהן לוי מזרחי פרץ ביטון אברהמי פרידמן גולדברג",
    ),
    "cjk": (
        "王 李 张 刘 陈 山田 佐藤 김",
        "小 美 建 晓 志 花 さくら 민",
        "明 玲 国 华 伟 子 ゆい 준",
    ),
    "devanagari": (
        "श्रीमती प्रिया राहुल अंजलि विक्रम सुनीता अर्जुन कविता",
        "कुमार देवी प्रसाद लक्ष्मी नारायण रानी कृष्ण दुर्गा",
        "शर्मा वर्मा गुप्ता त्रिपाठी मिश्रा चौधरी श्रीवास्तव द्विवेदी",
    ),
    "bengali": (
        "রবীন্দ্রনাথ সুমিতা অমিত প্রিয়াঙ্কা সৌরভ মৌসুমী অর্পিতা শুভজিৎ",
        "কুমার দেবী চন্দ্র রানী প্রসাদ লতা নাথ বালা",
        "ঠাকুর বন্দ্যোপাধ্যায় চট্টোপাধ্যায় মুখোপাধ্যায় দাস সেন রায় চৌধুরী",
    ),
    "tamil": (
        "முருகன் லட்சுமி கார்த்திக் பிரியா செல்வம் மீனா அருண் கவிதா",
        "குமார் தேவி ராஜ் ராணி சுந்தர் வள்ளி கண்ணன் பொன்னி",
        "சுப்பிரமணியன் ராமசாமி கிருஷ்ணன் வேலு பாண்டியன் நடராஜன் சண்முகம் ஆறுமுகம்",
    ),
    "thai": (  # given name and family name only
        "สมชาย สมหญิง ประเสริฐ มาลี วิชัย นภา ธนากร ศิริพร",
        "",
        "ใจดี รักไทย ศรีสุข วงศ์สวัสดิ์ แก้วมณี สุขสวัสดิ์ ทองดี บุญมา",
    ),
}
# CJK names are written without spaces between their parts.
NAME_JOINERS = {"cjk": ""}


def script_names(script: str, count: int = 512) -> list[str]:
    given, second, family = (part.split(" ") for part in NAME_PARTS[script])
    if script == "arabic":  # "عبد الله" is one name
        second = ["عبد الله" if part == "عبد" else part for part in second if part != "الله"]
    joiner = NAME_JOINERS.get(script, " ")
    return [
        joiner.join(
            part
            for part in (given[index % len(given)], second[index // len(given) % len(second)], family[index // 64 % 8])
            if part
        )
        for index in range(count)
    ]


LATIN_NAMES = script_names("latin")


def sample_fields(index: int, *, names: list[str] = LATIN_NAMES) -> dict:
    number = f"LMS-2026-{index:06d}"
    return {
        "learner_name": names[index % len(names)],
        "course_title": f"Data Engineering with Python, part {index % 7 + 1}",
        "completed_on": datetime.date(2026, 1, 1) + datetime.timedelta(days=index % 365),
        "certificate_number": number,
        "verify_url": f"https://lms.example.com/certificates/verify/{number}/",
    }


SCRIPTS = {
    "accented": "accented Latin",
    "cyrillic": "Cyrillic",
    "greek": "Greek",
    "arabic": "Arabic",
    "hebrew": "Hebrew",
    "cjk": "CJK",
    "devanagari": "Devanagari",
    "bengali": "Bengali",
    "tamil": "Tamil",
    "thai": "Thai",
}

# (key, label, renderer, names of the learners)
VARIANTS: list[tuple[str, str, Renderer, list[str]]] = [
    ("ours", "ours, Latin name", render_certificate_pdf, LATIN_NAMES),
    *[
        (f"ours_{script}", f"ours, {label} name", render_certificate_pdf, script_names(script))
        for script, label in SCRIPTS.items()
    ],
    ("naive", "naive: QrCodeWidget", render_certificate_pdf_naive, LATIN_NAMES),
    ("bare", "our page, no QR code", render_bare_page, LATIN_NAMES),
    ("minimal", "bare reportlab page", render_minimal_page, LATIN_NAMES),
    ("ours_cold", "ours, caches emptied", render_cold, LATIN_NAMES),
    ("ours_arabic_cold", "ours, Arabic, caches emptied", render_cold, script_names("arabic")),
    ("ours_uncompressed", "ours, pageCompression=0", render_uncompressed, LATIN_NAMES),
    ("ours_segno", "ours, segno QR encoder (before)", render_segno, LATIN_NAMES),
    ("ours_error_q", "ours, QR error level Q", render_error_q, LATIN_NAMES),
]
DEFAULT_VARIANTS = ["ours", *[f"ours_{script}" for script in SCRIPTS], "naive", "bare", "minimal"]


def run(*, n: int, batch: int, variant_keys: list[str]) -> dict:
    variants = [variant for variant in VARIANTS if variant[0] in variant_keys]
    timings = {key: {"cpu": [], "wall": [], "sizes": []} for key, *_ in variants}
    for _, _, render, names in variants:
        for index in range(WARM_UP):
            render(**sample_fields(index, names=names))

    rounds = -(-n // batch)
    for round_index in range(rounds):
        first = round_index * batch
        indices = range(first, min(first + batch, n))
        shift = round_index % len(variants)
        for key, _, render, names in variants[shift:] + variants[:shift]:
            inputs = [sample_fields(index, names=names) for index in indices]
            cpu, wall = time.process_time(), time.perf_counter()
            outputs = [render(**fields) for fields in inputs]
            timings[key]["cpu"].append((len(inputs), time.process_time() - cpu))
            timings[key]["wall"].append((len(inputs), time.perf_counter() - wall))
            timings[key]["sizes"].extend(len(pdf) for pdf in outputs)

    results = {}
    for key, label, *_ in variants:
        cpu_seconds = sum(seconds for _, seconds in timings[key]["cpu"])
        wall_seconds = sum(seconds for _, seconds in timings[key]["wall"])
        count = sum(count for count, _ in timings[key]["cpu"])
        results[key] = {
            "label": label,
            "count": count,
            "cpu_seconds": round(cpu_seconds, 4),
            "wall_seconds": round(wall_seconds, 4),
            "per_core_per_second": round(count / cpu_seconds, 1),
            "wall_per_second": round(count / wall_seconds, 1),
            "median_batch_per_core_per_second": round(
                statistics.median(count / seconds for count, seconds in timings[key]["cpu"] if seconds > 0), 1
            ),
            "cpu_ms_per_certificate": round(1000 * cpu_seconds / count, 3),
            "mean_bytes": round(statistics.mean(timings[key]["sizes"])),
        }
    return {
        "benchmark": "certificates",
        "recorded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "n": n,
        "batch": batch,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "reportlab": version("reportlab"),
            "zxing-cpp": version("zxing-cpp"),
            "platform": f"{platform.system()} {platform.machine()}",
        },
        "variants": results,
        "ratios": _ratios(results),
    }


def _ratios(results: dict) -> dict:
    def ratio(a: str, b: str) -> float | None:
        if a in results and b in results:
            return round(results[a]["per_core_per_second"] / results[b]["per_core_per_second"], 2)
        return None

    pairs = {"ours_over_naive": ("ours", "naive"), "ours_over_bare": ("ours", "bare")}
    pairs |= {"ours_over_minimal": ("ours", "minimal"), "naive_over_bare": ("naive", "bare")}
    pairs |= {f"ours_{script}_over_ours": (f"ours_{script}", "ours") for script in SCRIPTS}
    pairs |= {
        "ours_cold_over_ours": ("ours_cold", "ours"),
        "ours_arabic_cold_over_ours_arabic": ("ours_arabic_cold", "ours_arabic"),
    }
    pairs |= {"ours_uncompressed_over_ours": ("ours_uncompressed", "ours")}
    pairs |= {"ours_over_ours_segno": ("ours", "ours_segno")}
    pairs |= {"ours_error_q_over_ours": ("ours_error_q", "ours")}
    return {name: value for name, (a, b) in pairs.items() if (value := ratio(a, b)) is not None}


def print_table(report: dict) -> None:
    machine = report["machine"]
    print(
        f"Certificates: rendering, n={report['n']} per variant in batches of {report['batch']}; "
        f"{machine['cores']} cores, Python {machine['python']}, reportlab {machine['reportlab']}, "
        f"zxing-cpp {machine['zxing-cpp']}"
    )
    header = f"{'variant':<32} {'per core/s':>10} {'median batch':>12} {'wall/s':>8} {'cpu ms':>7} {'bytes':>7}"
    print(header)
    print("-" * len(header))
    for row in report["variants"].values():
        print(
            f"{row['label']:<32} {row['per_core_per_second']:>10.1f} {row['median_batch_per_core_per_second']:>12.1f} "
            f"{row['wall_per_second']:>8.1f} {row['cpu_ms_per_certificate']:>7.2f} {row['mean_bytes']:>7}"
        )
    for name, value in report["ratios"].items():
        print(f"{name.replace('_over_', ' / '):<32} {value:>10.2f}x")


def profile(n: int, variant_key: str) -> None:
    _, _, render, names = next(variant for variant in VARIANTS if variant[0] == variant_key)
    inputs = [sample_fields(index, names=names) for index in range(n)]
    render(**inputs[0])  # warm up outside the profile
    profiler = cProfile.Profile()
    profiler.enable()
    for fields in inputs:
        render(**fields)
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench certificates", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="certificates per variant (default 500)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="renders per timed batch")
    parser.add_argument("--smoke", action="store_true", help=f"n={SMOKE_N}: proves it runs, measures nothing")
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma separated, from {','.join(key for key, *_ in VARIANTS)}",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="where the JSON results go")
    parser.add_argument("--profile", action="store_true", help="profile the first of --variants instead of comparing")
    args = parser.parse_args(argv)
    n, batch = (SMOKE_N, SMOKE_N) if args.smoke else (args.n, args.batch)
    if n < 1 or batch < 1:
        parser.error("--n and --batch must be positive")
    variant_keys = [key.strip() for key in args.variants.split(",") if key.strip()]
    unknown = set(variant_keys) - {key for key, *_ in VARIANTS}
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    if args.profile:
        profile(n, variant_keys[0])
        return 0

    report = run(n=n, batch=batch, variant_keys=variant_keys)
    report["smoke"] = args.smoke
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results written to {args.output}")
    return 0
