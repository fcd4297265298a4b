"""`twin-train eval --canaries N`: how much the clone's recipe memorises, measured on planted secrets."""
