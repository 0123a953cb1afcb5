"""`python -m ponder` runs the CLI (the guard keeps spawned worker processes, as vLLM's, from re-running it)."""

from ponder.cli import main

if __name__ == "__main__":
    main()
