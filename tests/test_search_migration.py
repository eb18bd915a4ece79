"""Search's migration fills the index for layers indexed before it, and can be undone."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from layerviz.images import packed
from layerviz.images.models import Layer
from layerviz.lib import synth
from layerviz.lib.tarwriter import file, whiteout
from layerviz.search.index import files_of
from layerviz.search.models import SearchFile

from .helpers import ingest_image

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def test_layers_indexed_before_search_existed_are_searchable_after_its_migration(client, tmp_path):
    ingest_image(
        tmp_path,
        "lv/old:1",
        [
            synth.layer([file("etc/motd", b"hi"), file("usr/bin/tool", b"x" * 10)]),
            synth.layer([whiteout("etc/motd"), file("etc/motd.d/one", b"1")]),
        ],
    )
    _migrate([("search", None)])  # as before search existed: no table, no trigram index
    _migrate([("search", "0001_initial")])

    for layer in Layer.objects.all():
        stored = SearchFile.objects.filter(layer=layer).order_by("id")
        expected = list(files_of(packed.StoredEntries(layer.pk)))
        assert [(r.path, r.name_at, r.type, r.size, bytes(r.sha256)) for r in stored] == [
            tuple(row) for row in expected
        ]
    answer = client.get(reverse("search:api"), {"q": "etc/motd"}).json()
    assert sorted((h["path"], h["layer"], h["visible"]) for h in answer["hits"]) == [
        ("/etc/motd", 1, False),
        ("/etc/motd.d/one", 2, True),
    ]
