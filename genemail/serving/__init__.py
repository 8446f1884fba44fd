"""The OpenAI-compatible completions API, both ways.

* :mod:`genemail.serving.server`: ``genemail serve``, the release's PEFT generator behind ``/v1/models`` and
  ``/v1/completions``, with concurrent requests batched across adapters (:mod:`genemail.serving.batcher`);
* :mod:`genemail.serving.client`: the campaign's ``--backend openai``, which writes the same emails through
  any such server (``genemail serve``, vLLM, SGLang, TGI).

Nothing is imported here: fastapi, uvicorn and openai load only when a server or client is built.
"""
