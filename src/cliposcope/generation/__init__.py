"""Text-to-image generators and object detectors for the t2i probe, named by spec strings
(generation.registry) and kept in a content-keyed image store (generation.store)."""
