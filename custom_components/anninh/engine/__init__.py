"""The station's engine: video sources, stream reading, motion analysis, recording, sharing.

Nothing in this package imports Home Assistant, so it can be tested, benchmarked and read alone.
"""
