"""API semantics independent of HTTP: create, read, replace, patch and delete with real metadata rules.

This is where ``uid``, ``creationTimestamp``, ``generation`` (spec changes only), resourceVersion
preconditions (409), the status and scale subresources, finalizers with ``deletionTimestamp``,
propagation policies, ``dryRun`` and CRD schema admission are enforced. The HTTP layer only parses
requests into these calls; controllers inside the test bed call them directly. The metadata rules
are in :mod:`hive_testbed.api.metadata` and the delete rules in :mod:`hive_testbed.api.deletion`;
this module ties them to the store, admission, managed fields and the write hooks.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from typing import Any

from hive_testbed.api import admission, apply, defaults, deletion, errors, metadata, patching
from hive_testbed.api.metadata import timestamp, utc_now
from hive_testbed.api.resources import ResourceRegistry, ResourceType
from hive_testbed.api.selectors import parse_field_selector, parse_label_selector
from hive_testbed.api.store import Store

__all__ = ["AdmissionHook", "ApiCore", "Clock", "WriteHook", "timestamp", "utc_now"]

Clock = Callable[[], datetime.datetime]
WriteHook = Callable[[ResourceType, str, dict[str, Any]], None]
AdmissionHook = Callable[[ResourceType, dict[str, Any]], None]


class ApiCore:
    """The API server's object semantics on top of a :class:`Store`."""

    def __init__(self, *, registry: ResourceRegistry, store: Store, clock: Clock = utc_now) -> None:
        self.registry = registry
        self.store = store
        self.clock = clock
        self.write_hooks: list[WriteHook] = []
        self.admission_hooks: list[AdmissionHook] = []

    # ------------------------------------------------------------------ reading
    def get(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rtype.group_key, namespace if rtype.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rtype.plural, name, group=rtype.group)
        return self.present(rtype, obj)

    def find(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.store.get(rtype.group_key, namespace if rtype.namespaced else "", name)
        return None if obj is None else self.present(rtype, obj)

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        items = [
            self.present(rtype, obj)
            for obj in self.store.list_objects(rtype.group_key, namespace if rtype.namespaced else None)
            if labels(obj) and fields(obj)
        ]
        return items, self.store.resource_version

    def present(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """A copy of a stored object as the requested version shows it (CRD conversion "None")."""
        shown = copy.deepcopy(obj)
        shown["apiVersion"] = rtype.api_version
        shown["kind"] = rtype.kind
        return shown

    # ------------------------------------------------------------------ writing
    def create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        manager: str = "unknown",
        operation: str = "Update",
        strict: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of a create must be a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {}) or {}
        obj["metadata"] = meta
        namespace = metadata.resolve_namespace(rtype, namespace, meta)
        if rtype.namespaced:
            metadata.require_namespace(self.store, namespace)
        name = metadata.assign_name(rtype, meta)
        if self.store.get(rtype.group_key, namespace, name) is not None:
            raise errors.already_exists(rtype.plural, name, group=rtype.group)
        metadata.init_metadata(rtype, obj, now=timestamp(self.clock()))
        defaults.apply_create_defaults(rtype, obj)
        defaults.normalize_on_write(rtype, obj)
        obj = self._admit(rtype, obj, old=None, strict=strict)
        if operation == "Apply":
            apply.record_apply_create(obj, body, manager=manager, now=timestamp(self.clock()), rtype=rtype)
        else:
            apply.record_update(
                obj,
                None,
                manager=manager,
                operation=operation,
                now=timestamp(self.clock()),
                builtin=rtype.builtin,
            )
        if dry_run:
            return self.present(rtype, obj)
        stored = self.store.write(rtype.group_key, obj, event_type="ADDED")
        self._notify(rtype, "ADDED", stored)
        return self.present(rtype, stored)

    def replace(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        manager: str = "unknown",
        strict: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of an update must be a JSON object")
        current = self._stored(rtype, namespace, name)
        body_meta = body.get("metadata") or {}
        if body_meta.get("name") not in (None, name):
            raise errors.bad_request("the name of the object does not match the name on the URL")
        metadata.check_resource_version(rtype, name, body_meta.get("resourceVersion"), current)
        return self._update(
            rtype,
            current,
            copy.deepcopy(body),
            subresource=subresource,
            dry_run=dry_run,
            manager=manager,
            operation="Update",
            strict=strict,
        )

    def patch(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        patch_body: Any,
        *,
        content_type: str,
        subresource: str | None = None,
        dry_run: bool = False,
        manager: str = "unknown",
        force: bool = False,
        strict: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Apply a patch; returns the result and whether it created the object (server-side apply)."""
        kind = content_type.split(";", maxsplit=1)[0].strip()
        current_raw = self.store.get(rtype.group_key, namespace if rtype.namespaced else "", name)
        if kind == "application/apply-patch+yaml":
            if subresource not in (None, "status"):
                raise errors.method_not_allowed()
            if current_raw is None:
                if subresource:
                    raise errors.not_found(rtype.plural, name, group=rtype.group)
                config = apply.validate_config(rtype, patch_body, name)
                created = self.create(
                    rtype,
                    namespace,
                    apply.strip_directives(config),
                    dry_run=dry_run,
                    manager=manager,
                    operation="Apply",
                    strict=strict,
                )
                return created, True
        if current_raw is None:
            raise errors.not_found(rtype.plural, name, group=rtype.group)
        current = self.present(rtype, current_raw)
        if kind == "application/json-patch+json":
            patched = patching.json_patch(current, patch_body)
        elif kind == "application/merge-patch+json":
            patched = patching.merge_patch(current, patch_body)
        elif kind == "application/strategic-merge-patch+json":
            if not rtype.builtin:
                raise errors.unsupported_media_type(kind)
            patched = patching.strategic_merge_patch(current, patch_body)
        elif kind == "application/apply-patch+yaml":
            config = apply.validate_config(rtype, patch_body, name)
            patched = apply.server_side_apply(
                rtype,
                current,
                config,
                manager=manager,
                force=force,
                subresource=subresource,
                now=timestamp(self.clock()),
            )
            return self._update(
                rtype,
                current_raw,
                patched,
                subresource=subresource,
                dry_run=dry_run,
                manager=manager,
                operation="Apply",
                track_fields=False,
                strict=strict,
            ), False
        else:
            raise errors.unsupported_media_type(kind)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce an object")
        metadata.check_resource_version(
            rtype, name, (patched.get("metadata") or {}).get("resourceVersion"), current_raw
        )
        return self._update(
            rtype,
            current_raw,
            patched,
            subresource=subresource,
            dry_run=dry_run,
            manager=manager,
            operation="Update",
            strict=strict,
        ), False

    def delete(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Delete, or mark for deletion when finalizers (or a propagation policy) must run first."""
        options = options or {}
        current = self._stored(rtype, namespace, name)
        meta = current["metadata"]
        deletion.check_preconditions(rtype, name, meta, options)
        if meta.get("deletionTimestamp"):
            if options.get("gracePeriodSeconds") == 0 and not meta.get("finalizers") and not dry_run:
                self.finish_deletion(rtype, meta.get("namespace", ""), name)  # the kubelet's final delete
            return self.present(rtype, current)
        finalizers = deletion.deletion_finalizers(meta, options)
        grace = admission.grace_period(self.store, rtype, current, options)
        namespace_content = deletion.has_namespace_content(rtype, current)
        if not finalizers and grace == 0 and not namespace_content:
            if dry_run:
                return self.present(rtype, current)
            removed = self.store.remove(rtype.group_key, meta.get("namespace", ""), name)
            assert removed is not None
            self._notify(rtype, "DELETED", removed)
            return self.present(rtype, removed)
        marked = deletion.marked_for_deletion(
            current,
            finalizers,
            deletion_timestamp=timestamp(self.clock() + datetime.timedelta(seconds=grace)),
            grace=grace,
            terminating_namespace=namespace_content,
        )
        if dry_run:
            return self.present(rtype, marked)
        stored = self.store.write(rtype.group_key, marked, event_type="MODIFIED")
        self._notify(rtype, "MODIFIED", stored)
        return self.present(rtype, stored)

    def finish_deletion(self, rtype: ResourceType, namespace: str, name: str) -> None:
        """Remove an object whose grace period is over (what the kubelet's final delete does)."""
        removed = self.store.remove(rtype.group_key, namespace, name)
        if removed is not None:
            self._notify(rtype, "DELETED", removed)

    # ------------------------------------------------------------------ internals
    def _stored(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rtype.group_key, namespace if rtype.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rtype.plural, name, group=rtype.group)
        return obj

    def _update(
        self,
        rtype: ResourceType,
        current: dict[str, Any],
        wanted: dict[str, Any],
        *,
        subresource: str | None,
        dry_run: bool,
        manager: str,
        operation: str,
        track_fields: bool = True,
        strict: bool = False,
    ) -> dict[str, Any]:
        old_meta = current["metadata"]
        new = metadata.merge_update(rtype, current, wanted, subresource=subresource)
        meta = new["metadata"]
        defaults.normalize_on_write(rtype, new)
        new = self._admit(rtype, new, old=current, strict=strict)
        if metadata.spec_part(new) != metadata.spec_part(current):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if track_fields:
            apply.record_update(
                new,
                current,
                manager=manager,
                operation=operation,
                now=timestamp(self.clock()),
                builtin=rtype.builtin,
            )
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            if dry_run:
                return self.present(rtype, new)
            removed = self.store.remove(rtype.group_key, meta.get("namespace", ""), meta["name"], final=new)
            assert removed is not None
            self._notify(rtype, "DELETED", removed)
            return self.present(rtype, removed)
        if metadata.comparable(new) == metadata.comparable(current):
            return self.present(rtype, current)  # a no-op write changes nothing, not even the version
        if dry_run:
            return self.present(rtype, new)
        stored = self.store.write(rtype.group_key, new, event_type="MODIFIED")
        self._notify(rtype, "MODIFIED", stored)
        return self.present(rtype, stored)

    def _admit(
        self, rtype: ResourceType, obj: dict[str, Any], *, old: dict[str, Any] | None, strict: bool = False
    ) -> dict[str, Any]:
        for hook in self.admission_hooks:
            hook(rtype, obj)
        return admission.admit_custom(rtype, obj, old=old, strict=strict)

    def _notify(self, rtype: ResourceType, event_type: str, obj: dict[str, Any]) -> None:
        for hook in list(self.write_hooks):
            hook(rtype, event_type, obj)
