"""Everything that speaks to Mindset's API; nothing here knows of Flask."""
