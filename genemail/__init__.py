"""GenEmail: segment customers first, then write each segment's emails with its own LoRA adapter.

The package has one module (or sub-package) per pipeline stage, imported in this order only:

    data -> features -> segmentation -> generation -> evaluation
                            \\___________ hub (artifacts) ___________/
                                           app / service (edges)

Importing ``genemail`` does no work: heavy libraries (torch, transformers, gradio) are imported
inside the functions that need them.
"""

__version__ = "0.1.0"
