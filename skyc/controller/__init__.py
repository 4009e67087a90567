"""Long-running loops: autostop, managed jobs, services."""
