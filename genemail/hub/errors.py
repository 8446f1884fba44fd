"""Every translation of ``huggingface_hub`` failures into GenEmail errors, in one module of the Hub layer.

Publishing and pulling both wrap their client calls in :func:`hub_errors`, so a user always reads what
failed, for which repo and revision, and what to do, never a client traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from genemail.errors import HubError


@contextlib.contextmanager
def hub_errors(repo_id: str, revision: str | None = None, *, action: str = "talk to") -> Iterator[None]:
    """Turn ``huggingface_hub`` / transport exceptions into :class:`HubError` with what to do."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub import errors as hf

    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        yield
    except hf.RevisionNotFoundError:
        raise HubError(f"revision {revision!r} does not exist", where=repo_id,
                       fix="pass an existing tag or commit sha (`genemail release tags REPO` lists a release's tags)") from None
    except hf.RepositoryNotFoundError:
        raise HubError("repository not found (or not visible with this token)", where=where,
                       fix="check the repo id and namespace, and that HF_TOKEN can read it") from None
    except hf.OfflineModeIsEnabled:
        raise HubError(f"cannot {action} the Hub: HF_HUB_OFFLINE=1 is set", where=where,
                       fix="unset HF_HUB_OFFLINE, or pull a revision already in the cache") from None
    except hf.HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status in (401, 403):
            raise HubError(f"the Hub refused the token (HTTP {status})", where=where,
                           fix="set HF_TOKEN to a token with write access to this namespace") from None
        raise HubError(f"the Hub answered an error: {str(err).splitlines()[0]}", where=where,
                       fix="retry; if it persists, check the Hub server's log") from None
    except (httpx2.TransportError, ConnectionError) as err:
        raise HubError(f"the Hub at {constants.ENDPOINT} is unreachable ({type(err).__name__})", where=where,
                       fix="start it (`make hub` / `genemail hub serve`) or set HF_ENDPOINT to a running Hub") from None
