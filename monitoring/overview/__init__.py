"""The workspace overview: figures for a window (1 h, 24 h, 7 d) as server-rendered charts."""
