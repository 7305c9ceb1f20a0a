"""Object vocabularies, caption templates and scene records."""
