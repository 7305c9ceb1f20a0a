"""Scale-out engines. ``ray_engine``: Ray Data pipelines (optional: ``cliposcope[ray]``)."""
