"""Graph files: their schema and their loading with static checks."""
