"""Model and corpus training: what builds the artifacts an email is later written with.

The corpus (``corpus``, with ``topup`` and ``neutral``), the embedded base model (``presets``,
``base_training``), the segment adapters (``adapter_training``), preference tuning
(``preference_training``), and what they share (``trainer``, ``examples``). The command lines are the
thin scripts of the top-level ``training/`` folder (``python -m training.<stage>``). Nothing in
:mod:`genemail.generation`, which writes the emails at run time, imports this package.
"""
