"""HTTP transport only: parse, call the engine, serialise. No clinical logic lives here."""
