"""Who may read an endpoint the operator serves (/metrics): a bearer token the apiserver authenticates
(TokenReview) for a user it authorizes for the path (SubjectAccessReview, a non-resource URL), as
controller-runtime's `filters.WithAuthenticationAndAuthorization`. Answers are cached 10 s (as the apiserver's
delegated authorizer does), at most 1,024 tokens."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from mcpop.apply.resources import SUBJECTACCESSREVIEW, TOKENREVIEW, ApiError, Resource

log = logging.getLogger("mcpop.metrics")
#: a bearer token longer than this is refused unread (service-account tokens are ~1 KiB)
MAX_TOKEN = 16 * 1024


class Creator(Protocol):
    def create(self, res: Resource, namespace: str | None, obj: dict[str, Any]) -> dict[str, Any]: ...


class RequestAuthorizer:
    """Decides a request to `path` from its Authorization header: 200, 401 (no or bad token) or 403."""

    def __init__(self, kube: Creator, path: str = "/metrics", verb: str = "get", ttl: float = 10.0,
                 max_entries: int = 1024) -> None:  # fmt: skip
        self.kube, self.path, self.verb, self.ttl, self.max_entries = kube, path, verb, ttl, max_entries
        self._cache: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, authorization: str | None) -> int:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN:
            return 401
        key = hashlib.sha256(token.encode()).hexdigest()  # the token itself is never kept
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        try:
            code = self._decide(token)
        except ApiError as exc:  # not cached: the next scrape asks again
            log.warning("could not review a metrics request's token: %s %s", exc.status, exc.reason)
            return 503 if exc.status >= 500 else 403
        with self._lock:
            self._cache[key] = (now + self.ttl, code)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return code

    def _decide(self, token: str) -> int:
        review = self.kube.create(TOKENREVIEW, None, {"apiVersion": TOKENREVIEW.api_version,
                                                      "kind": TOKENREVIEW.kind, "spec": {"token": token}})  # fmt: skip
        status = review.get("status") or {}
        if not status.get("authenticated"):
            return 401
        user = status.get("user") or {}
        spec: dict[str, Any] = {"nonResourceAttributes": {"path": self.path, "verb": self.verb}}
        for src, dst in (("username", "user"), ("uid", "uid"), ("groups", "groups"), ("extra", "extra")):
            if user.get(src):
                spec[dst] = user[src]
        sar = self.kube.create(SUBJECTACCESSREVIEW, None, {"apiVersion": SUBJECTACCESSREVIEW.api_version,
                                                           "kind": SUBJECTACCESSREVIEW.kind, "spec": spec})  # fmt: skip
        allowed = (sar.get("status") or {}).get("allowed") and not (sar.get("status") or {}).get("denied")
        return 200 if allowed else 403
