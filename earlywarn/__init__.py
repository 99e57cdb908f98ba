"""earlywarn: streaming early warnings over 12315 complaint tickets."""

__version__ = "0.1.0"
