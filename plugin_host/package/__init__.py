"""Plugin packages: packing, safe reading and extraction, Ed25519 signatures."""
