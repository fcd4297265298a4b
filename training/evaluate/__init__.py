"""How much the clone sounds like its owner: perplexity and style, base vs adapter vs owner."""
