"""A local, Hugging Face Hub-compatible server backed by bare git repositories.

The unmodified ``huggingface_hub`` client and the ``hf`` CLI work against it when ``HF_ENDPOINT``
points at it. Public surface::

    create_app(root, tokens)            -> Starlette ASGI app
    ServeConfig(root, tokens, host, port)
    serve(config)                       run in the foreground
    start_in_thread(config)             -> ThreadServer (.endpoint, .stop())
    start_process(config, via_cli=...)  -> ServerProcess (.endpoint, .stop(), .kill())
    local_hub(config)                   with-block: a command's own Hub, stopped when the block ends
    probe.probe(endpoint)               -> PortAnswer: nothing, a GenEmail local Hub (root, pid) or other

Nothing heavy is imported until one of these is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "ServeConfig", "serve", "start_in_thread", "start_process", "wait_until_ready", "local_hub"]


def __getattr__(name: str) -> Any:  # lazy re-exports: importing the package stays instant
    if name == "create_app":
        from genemail.hub.server.app import create_app

        return create_app
    if name in ("ServeConfig", "serve", "start_in_thread", "start_process", "wait_until_ready"):
        from genemail.hub.server import runner

        return getattr(runner, name)
    if name == "local_hub":
        from genemail.hub.server.local import local_hub

        return local_hub
    raise AttributeError(f"module 'genemail.hub.server' has no attribute {name!r}")
