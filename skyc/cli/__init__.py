"""Click commands: thin wrappers over the layers."""
