"""The WeChat bridge: friends chat with the clone through the API; every exchange becomes feedback."""
