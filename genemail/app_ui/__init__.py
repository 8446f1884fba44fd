"""The Gradio user interface of ``app.py``: one module per tab, plus what they share (``common``).

Each tab module has ``build(service, ...)``, called inside a ``gr.Tab``; it lays out the widgets
and wires events to :class:`genemail.service.GenEmailService`. Importing this package imports
gradio, so only ``app.build_demo`` imports it.
"""
