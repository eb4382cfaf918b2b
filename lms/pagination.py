"""The API's pagination: DRF's page numbers, accepting nothing but a page number."""

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N`, N from 1. Anything else is 404 "Invalid page." (as DRF answers `?page=abc`),
    including an empty `?page=`, which DRF would quietly read as page 1, and DRF's `?page=last`,
    which the schema (an integer) does not offer."""

    last_page_strings = ()

    def get_page_number(self, request, paginator):
        return request.query_params.get(self.page_query_param, 1)
