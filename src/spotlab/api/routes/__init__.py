"""One router per resource; each route parses, authorises, calls one service function and shapes the answer."""
