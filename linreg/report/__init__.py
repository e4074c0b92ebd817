"""Presentation: plotly figures and HTML. Imports plotly, so the core never imports this."""
