"""Tables and reports, built from saved results only."""
