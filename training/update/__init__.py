"""`twin-train update`: continue an adapter on new chats."""
