"""URL pieces shared by the apps' routers."""

# A canonical UUID: anything else in an id position is a 404 at routing, never a 400 or 500.
UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
