"""What the formats share and none of them is: the message shape and table, text and CSV/JSON reading, times,
WeChat's type numbers and notices, owner detection, and how WeFlow renders a message as text."""
