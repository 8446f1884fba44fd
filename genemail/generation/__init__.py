"""GenEmail generation stage.

What runs when an email is written: ``strategies`` (the versioned strategies file), ``prompts``
(profile -> prompt), ``slots`` (merge tags filled from the record), ``claims`` (facts read back out of a
text), ``templates`` (template emails from the strategies' variants), ``gate`` (the quality gate),
``sampling`` (per-row seeded sampling), ``writer`` (write, check, resample, fall back), ``generator``
(base model + adapters, mixed batches), ``compose`` and ``campaign``. Model and corpus training:
``corpus``, ``topup``, ``neutral``, ``modeling``, the trainers.
"""
