"""ampcapture: learn a neural model of a guitar amp or pedal from a reamp recording."""

__version__ = "0.1.0"
