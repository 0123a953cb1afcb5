"""Adaptive compute across questions: difficulty probes, a learned difficulty predictor, a fitted
allocation policy and a shared token budget."""
