"""Widgets the page needs that Gradio lacks: a slider whose range its handler checks.

Gradio writes a type stub (``widgets.pyi``) beside the module that defines a component class; it is
kept in the repository so that importing the app leaves no new file behind.
"""

import gradio as gr


class FieldSlider(gr.Slider):
    """A slider whose range is checked by the handler (with the field's name), not by Gradio's preprocess.

    Gradio refuses an out-of-range value with "Value 9 is greater than maximum value 5.", which names
    no field; the page's handlers call :func:`genemail.app_ui.common.number_field` instead.
    """

    def get_block_name(self) -> str:
        return "slider"  # the same widget on the page

    def preprocess(self, payload: float) -> float:
        return payload
