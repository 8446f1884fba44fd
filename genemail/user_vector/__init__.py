"""FR-13: a customer's behaviour as a user vector, and the vector as soft-prompt tokens beside the segment adapter.

Modules, one job each: :mod:`.encoder` (the encoder + projector module and its config),
:mod:`.inject` (``inputs_embeds`` and masks), :mod:`.data` (features per customer),
:mod:`.training` (fit on top of the frozen base + segment adapters), :mod:`.artifact` (save/load as one
Hub artifact), :mod:`.ablation` (does the vector carry a hidden fact?). Nothing heavy is imported here.
"""
