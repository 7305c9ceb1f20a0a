"""The application layer: the command line, options -> Settings, null-model orchestration
and the demo. The only place that knows about argparse."""
