"""Strategic merge directives kubectl sends, and selector parsing, checked on the pure functions."""

from __future__ import annotations

import pytest

from hive_testbed.api.errors import ApiError
from hive_testbed.api.patching import strategic_merge_patch
from hive_testbed.api.selectors import parse_label_selector, selector_from_label_selector_object


def test_set_element_order_reorders_merged_list() -> None:
    live = {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}
    patch = {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"name": "a", "image": "2"}],
    }
    assert strategic_merge_patch(live, patch) == {
        "containers": [{"name": "b", "image": "1"}, {"name": "a", "image": "2"}]
    }


def test_retain_keys_drops_other_fields() -> None:
    live = {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}
    patch = {"strategy": {"$retainKeys": ["type"], "type": "OnDelete"}}
    assert strategic_merge_patch(live, patch) == {"strategy": {"type": "OnDelete"}}


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    live = {"metadata": {"finalizers": ["a", "b"]}}
    assert strategic_merge_patch(live, {"metadata": {"finalizers": ["b", "c"]}}) == {
        "metadata": {"finalizers": ["a", "b", "c"]}
    }
    removal = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    assert strategic_merge_patch(live, removal) == {"metadata": {"finalizers": ["b"]}}


def test_replace_directive_and_missing_merge_key() -> None:
    live = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    replaced = strategic_merge_patch(live, {"env": [{"$patch": "replace"}, {"name": "C", "value": "3"}]})
    assert replaced == {"env": [{"name": "C", "value": "3"}]}
    with pytest.raises(ApiError) as failure:
        strategic_merge_patch(live, {"env": [{"value": "no name"}]})
    assert failure.value.code == 400


def test_label_selector_object_round_trip() -> None:
    selector = {
        "matchLabels": {"app": "x"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "gone", "operator": "DoesNotExist"},
        ],
    }
    text = selector_from_label_selector_object(selector)
    assert text == "app=x,tier in (a,b),!gone"
    matches = parse_label_selector(text)
    assert matches({"metadata": {"labels": {"app": "x", "tier": "b"}}})
    assert not matches({"metadata": {"labels": {"app": "x", "tier": "b", "gone": "1"}}})


def test_malformed_label_selector_is_400() -> None:
    with pytest.raises(ApiError) as failure:
        parse_label_selector("app in (x")
    assert failure.value.code == 400
