"""Derived copies in the ONNX cache (models/derived.py): a new version of a source replaces the copies of the old
one and what was derived from them; copies of other sources, and of other places, stay."""

from __future__ import annotations

import os

from ar_perception.models.derived import derived_path, drop_stale


def _touch(path, data=b"x", mtime_ns=None):
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_a_new_version_of_the_source_replaces_the_old_copies_and_their_derivatives(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    src = _touch(tmp_path / "model.onnx", mtime_ns=1_000_000_000)
    old = _touch(derived_path(src, "tokens", cache, params="t", versions="v1"))
    old_child = _touch(cache / f"{old.stem}-folded-224x224-aaaa-bbbb.onnx")  # derived from the old copy
    old_none = _touch(cache / f"{old.stem}-folded-224x224-aaaa-cccc.none")
    other_params = _touch(derived_path(src, "tokens", cache, params="other", versions="v1"))
    (tmp_path / "b").mkdir()
    elsewhere = _touch(tmp_path / "b" / "model.onnx")  # another venv's copy of the same package
    other_place = _touch(derived_path(elsewhere, "tokens", cache, params="t", versions="v1"))

    _touch(src, b"xy", mtime_ns=2_000_000_000)  # reinstalled: another size and time
    new = derived_path(src, "tokens", cache, params="t", versions="v1")
    assert (
        new != old and new.name.startswith("model-tokens-") and new.stem.rsplit("-", 1)[0] == old.stem.rsplit("-", 1)[0]
    )
    _touch(new)
    new_child = _touch(cache / f"{new.stem}-folded-224x224-aaaa-dddd.onnx")
    assert drop_stale(new) == 3
    assert not old.exists() and not old_child.exists() and not old_none.exists()
    assert new.exists() and new_child.exists() and other_params.exists() and other_place.exists()


def test_the_same_source_and_code_give_the_same_name_and_other_code_another(tmp_path):
    src = _touch(tmp_path / "model.onnx", mtime_ns=5_000_000_000)
    a = derived_path(src, "int8-static", tmp_path, params="image|224x224", versions="ort-1|int8-v1")
    assert a == derived_path(src, "int8-static", tmp_path, params="image|224x224", versions="ort-1|int8-v1")
    b = derived_path(src, "int8-static", tmp_path, params="image|224x224", versions="ort-2|int8-v1")
    assert a != b and a.stem.rsplit("-", 1)[0] == b.stem.rsplit("-", 1)[0]  # same place, another version
