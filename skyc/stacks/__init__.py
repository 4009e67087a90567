"""Plan -> Pulumi programs, one module per provider, and the engine that applies them."""
