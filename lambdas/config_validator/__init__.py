"""AppConfig Lambda validator for the `routing` profile: the router's own parser, before any deployment."""
