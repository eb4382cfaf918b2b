"""The home page: the catalogue of published courses and where to go next.

The welcome and enrollment e-mails link here. It only reads (lms selectors).
"""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_safe

from courses.selectors import course_list

# Courses per page of the catalogue: a screenful with their descriptions.
CATALOGUE_PAGE_SIZE = 20
# A search longer than this is not a course title; it is cut, not refused.
SEARCH_MAX_CHARS = 100


@require_safe
def home_page(request):
    search = request.GET.get("q", "").replace("\x00", "").strip()[:SEARCH_MAX_CHARS]
    # get_page() turns a missing, non-numeric or out-of-range ?page= into a real page, never an error.
    page = Paginator(course_list(search=search), CATALOGUE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "courses/home.html", {"page": page, "search": search})
