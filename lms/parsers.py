"""The API's JSON parser: DRF's, made safe against bodies it would turn into a 500."""

import io

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with two more refusals, both 400:

    - a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE (DRF reads the whole stream, unlike
      Django's own form parsing, which enforces that limit);
    - JSON nested so deep that Python's decoder raises RecursionError, which DRF does not catch
      (`[[[[...` a few thousand levels deep was a 500).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and stream is not None:
            content = stream.read(limit + 1)
            if len(content) > limit:
                raise ParseError(f"JSON parse error - the body is larger than {limit} bytes.")
            stream = io.BytesIO(content)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
