"""Serializer fields shared by the apps' input serializers."""

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A text input that must be a JSON string.

    DRF's CharField turns a number into text (`{"full_name": 352463}` becomes "352463"), which
    the schema, saying `string`, does not allow: a client sending a number has a bug to hear about.
    """

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
