"""One module per chat-export format, each with its detector next to its parser; `registry` lists them and
`support/` holds what they share."""
