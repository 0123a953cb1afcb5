"""OpenAI-compatible HTTP server over the engine: `create_app(generator, config)`."""
