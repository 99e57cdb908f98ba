"""The pure core: windows, baselines, detectors and decisions. No I/O, no Faust, no Kafka."""
