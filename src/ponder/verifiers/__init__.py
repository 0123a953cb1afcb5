"""Verifiers: score candidate solutions (token confidence, LLM judge, programmatic checks, fakes)."""
