"""skyc: compile SkyPilot-style task YAML into Pulumi stacks and run the work over SSH."""

__version__ = "0.1.0"
