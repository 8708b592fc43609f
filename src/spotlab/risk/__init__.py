"""Risk: position sizing, guards, day-trade counting and portfolio valuation, pure functions over records."""
