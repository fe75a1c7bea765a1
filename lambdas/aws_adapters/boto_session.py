"""A boto3 session whose first client is cheaper to make, with botocore's data and behaviour unchanged.

Imported with the first Bedrock client (it imports botocore). botocore's loader checks that a service exists by
listing every service it has data for: a listdir and a stat per directory, about 400 of them, 15-20 ms of a cold
start's first client here. `FastLoader` answers that check at once for the services it is told the session is
for, and for any other name (an STS or SSO client a credential provider makes, say) runs botocore's own full
listing, so every service still loads exactly as botocore loads it.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections import OrderedDict
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

    @instance_cache
    def load_data_with_path(self, name):
        """botocore's, except that the endpoints file (when plain JSON laid out as botocore writes it) is read by
        `endpoints_document`: the same data, its other services parsed when first asked for."""
        if name == "endpoints":
            for path in self.search_paths:  # botocore's order: the first search path that has the file wins
                base = os.path.join(path, name)
                if not os.path.isdir(path) or not (os.path.isfile(base + ".json") or os.path.isfile(base + ".json.gz")):
                    continue
                if os.path.isfile(base + ".json"):
                    with open(base + ".json", "rb") as f:
                        document = endpoints_document(f.read().decode("utf-8"), self._fast_services)
                    if document is not None:
                        return document, base
                break
        return Loader.load_data_with_path(self, name)


# The services the router's own process calls: Bedrock, AppConfig's data plane (its configuration), DynamoDB (the
# spend table) and SQS (the label queue). All of its clients are made on one session that knows them.
ROUTER_SERVICES = ("bedrock-runtime", "appconfigdata", "dynamodb", "sqs")
_client_lock = threading.Lock()


@functools.cache
def _router_session() -> boto3.session.Session:
    return session(ROUTER_SERVICES)


def client(service: str, *, region_name: str | None, config):
    """A client on the process's shared `session(ROUTER_SERVICES)`. A cold start's first request makes three or four
    clients (AppConfig, the spend table, Bedrock); on boto3's default session every other service's first client
    lists botocore's ~400 service directories and parses the whole endpoints document again
    (`python -m benchmarks.first_clients`). Clients are made one at a time: a boto3 session is not safe to build
    clients on from several threads at once."""
    with _client_lock:
        return _router_session().client(service, region_name=region_name, config=config)


def session(services: tuple[str, ...]) -> boto3.session.Session:
    """A new boto3 session whose loader is a `FastLoader` for `services`, with the same search paths as botocore's
    (AWS_DATA_PATH first, read as `botocore.loaders.create_loader` reads it)."""
    core = botocore.session.get_session()
    extra = core.get_config_variable("data_path")
    paths = [os.path.expanduser(os.path.expandvars(p)) for p in extra.split(os.pathsep)] if extra else []
    core.register_component("data_loader", FastLoader(services, extra_search_paths=paths))
    return boto3.session.Session(botocore_session=core)


# --- the endpoints document ---------------------------------------------------------------------------------------
# botocore's legacy endpoint data (`endpoints.json`, 1.25 MB: every service in every partition) is parsed whole for
# the first client of a session, 15-35 ms here, though a client needs one service's entry. `endpoints_document`
# parses each partition's own fields and the entries of the services named, and leaves every other service to a
# full parse the first time anything else is asked of a partition's `services` (`LazyServices`). It relies on the
# file's layout (botocore writes it pretty-printed, two spaces per level); any other layout returns None and the
# file is parsed whole, as botocore parses it.

_PARTITIONS = '{\n  "partitions" : [ '
_SERVICES = '\n    "services" : {'
_SERVICES_END = "\n    }\n  }"
_ENTRY_END = "\n      }"


class LazyServices(dict):
    """A partition's services: the entries parsed up front, all of them (in the file's order) once anything else is
    asked of it."""

    def __init__(self, some: dict, absent: frozenset[str], full: Callable[[], dict]):
        super().__init__(some)
        self._absent = absent  # named services this partition does not list: known without the full parse
        self._full: Callable[[], dict] | None = full

    def _fill(self) -> None:
        full = self._full
        if full is not None:
            self._full = None
            items = full()
            dict.clear(self)
            dict.update(self, items)

    def __missing__(self, key):
        if key in self._absent:
            raise KeyError(key)
        self._fill()
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def get(self, key, default=None):
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        if key in self._absent:
            return default
        self._fill()
        return dict.get(self, key, default)

    def __contains__(self, key) -> bool:
        if dict.__contains__(self, key):
            return True
        if key in self._absent:
            return False
        self._fill()
        return dict.__contains__(self, key)

    def __iter__(self):
        self._fill()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._fill()
        return dict.__len__(self)

    def keys(self):  # type: ignore[override]
        self._fill()
        return dict.keys(self)

    def items(self):  # type: ignore[override]
        self._fill()
        return dict.items(self)

    def values(self):  # type: ignore[override]
        self._fill()
        return dict.values(self)

    def __eq__(self, other: object) -> bool:
        self._fill()
        return dict.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]


def _nth_services(full: Callable[[], dict], index: int) -> Callable[[], dict]:
    return lambda: full()["partitions"][index]["services"]


def endpoints_document(text: str, services: tuple[str, ...]) -> dict | None:
    """`json.loads(text)` of botocore's endpoints file, with only `services` parsed before they are needed (see
    above); None when the text is not laid out as botocore writes it."""
    if not text.startswith(_PARTITIONS):
        return None
    lock = threading.Lock()
    whole: list[dict] = []

    def full() -> dict:
        with lock:
            if not whole:
                whole.append(json.loads(text, object_pairs_hook=OrderedDict))
            return whole[0]

    partitions: list[dict] = []
    pos = len(_PARTITIONS)
    while True:
        start = text.find(_SERVICES, pos)
        end = text.find(_SERVICES_END, start)
        if text[pos : pos + 1] != "{" or start < 0 or end < 0:
            return None
        body = start + len(_SERVICES)
        entries, absent = [], set()
        for name in services:
            key = f'\n      "{name}" : {{'
            at = text.find(key, body, end)
            if at >= 0:
                close = text.find(_ENTRY_END, at + len(key), end + 1)
                if close < 0:
                    return None
                entries.append(text[at + 1 : close + len(_ENTRY_END)])
            else:
                absent.add(name)
        try:
            part = json.loads(text[pos:start] + _SERVICES + ",".join(entries) + "}\n  }", object_pairs_hook=OrderedDict)
        except ValueError:
            return None
        part["services"] = LazyServices(part["services"], frozenset(absent), _nth_services(full, len(partitions)))
        partitions.append(part)
        pos = end + len(_SERVICES_END)
        if text.startswith(", ", pos):
            pos += 2
            continue
        if not text.startswith(" ],", pos):
            return None
        try:
            tail = json.loads("{" + text[pos + 3 :], object_pairs_hook=OrderedDict)
        except ValueError:
            return None
        return OrderedDict([("partitions", partitions), *tail.items()])
