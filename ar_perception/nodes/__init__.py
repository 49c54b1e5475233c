"""Built-in nodes, one file each. Heavy imports happen in `setup`, never at import."""
