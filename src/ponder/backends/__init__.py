"""Generation backends: llama.cpp (embedded default), OpenAI-compatible HTTP, and a scripted fake."""
