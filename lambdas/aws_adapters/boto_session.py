"""A boto3 session whose first client is cheaper to make, with botocore's data and behaviour unchanged.

Imported with the first Bedrock client (it imports botocore). botocore's loader checks that a service exists by
listing every service it has data for: a listdir and a stat per directory, about 400 of them, 15-20 ms of a cold
start's first client here. `FastLoader` answers that check at once for the services it is told the session is
for, and for any other name (an STS or SSO client a credential provider makes, say) runs botocore's own full
listing, so every service still loads exactly as botocore loads it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import boto3
import botocore.session
from botocore.loaders import Loader, instance_cache


class ServiceListing(Sequence):
    """botocore's list of services, computed only when something other than `name in listing` for one of the
    `known` services is asked of it."""

    def __init__(self, known: frozenset[str], full: Callable[[], list[str]]):
        self._known = known
        self._full = full
        self._all: list[str] | None = None

    def _listing(self) -> list[str]:
        if self._all is None:
            self._all = self._full()
        return self._all

    def __contains__(self, name: object) -> bool:
        return name in self._known or name in self._listing()

    def __getitem__(self, index):  # type: ignore[override]
        return self._listing()[index]

    def __len__(self) -> int:
        return len(self._listing())

    def __iter__(self) -> Iterator[str]:
        return iter(self._listing())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


class FastLoader(Loader):
    """botocore's Loader; `list_available_services` answers membership of `services` without the full scan."""

    def __init__(self, services: tuple[str, ...], **kwargs):
        super().__init__(**kwargs)
        self._fast_services = services

    @instance_cache
    def list_available_services(self, type_name):
        known = frozenset(s for s in self._fast_services if self.list_api_versions(s, type_name))

        def full() -> list[str]:  # botocore's own listing, over the same search paths (boto3 appends its own)
            plain = Loader(extra_search_paths=list(self.search_paths), include_default_search_paths=False)
            return plain.list_available_services(type_name)

        return ServiceListing(known, full)


def session(services: tuple[str, ...]) -> boto3.session.Session:
    """A new boto3 session whose loader is a `FastLoader` for `services`, with the same search paths as botocore's
    (AWS_DATA_PATH first, read as `botocore.loaders.create_loader` reads it)."""
    core = botocore.session.get_session()
    extra = core.get_config_variable("data_path")
    paths = [os.path.expanduser(os.path.expandvars(p)) for p in extra.split(os.pathsep)] if extra else []
    core.register_component("data_loader", FastLoader(services, extra_search_paths=paths))
    return boto3.session.Session(botocore_session=core)
