"""Strategies: turn extra samples into better answers (greedy, voting, best-of-N)."""
