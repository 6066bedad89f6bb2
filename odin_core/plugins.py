"""The plugin manager: entry-point loading, broken plugins, and the component registry."""

from __future__ import annotations

import difflib
import os
import sys
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from odin_core import hookspecs
from odin_core.errors import RecipeError

ENTRY_POINT_GROUP = "odin"
LOAD_PLUGINS_ENV = "ODIN_LOAD_PLUGINS"

#: component kind -> the hook that registers it
COMPONENT_HOOKS = {
    "source": "register_sources",
    "encoder": "register_encoders",
    "task": "register_tasks",
    "loader": "register_model_loaders",
    "lora": "register_lora_strategies",
    "evaluator": "register_evaluators",
    "tracker": "register_trackers",
}


@dataclass
class Component:
    """A registered component: its name, kind, factory, options model and provider."""

    kind: str
    name: str
    factory: Callable[..., Any]
    options: Any = None  # a pydantic model class, or None
    description: str = ""
    plugin: str = ""

    def create(self, options=None):
        """Instantiate the component with validated options (its defaults when none are given)."""
        if options is None and self.options is not None:
            options = self.options()
        return self.factory(options)


@dataclass
class BrokenPlugin:
    name: str
    distribution: str
    version: str
    error: str


@dataclass
class PluginInfo:
    name: str
    distribution: str = ""
    version: str = ""
    hooks: list[str] = field(default_factory=list)


pm = pluggy.PluginManager("odin")
pm.add_hookspecs(hookspecs)

_loaded = False
_broken: list[BrokenPlugin] = []
_dists: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)
_registry: dict[str, dict[str, Component]] | None = None


def _allowed_entry_points():
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def load_plugins() -> None:
    """Load entry-point plugins of group ``odin`` once; failures become broken plugins."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    allowed = _allowed_entry_points()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        dist = ep.dist.name if ep.dist else ""
        version = ep.dist.version if ep.dist else ""
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a third party's bug must not take the CLI down
            _broken.append(BrokenPlugin(ep.name, dist, version, _describe(exc)))
            continue
        _dists[ep.name] = (dist, version)
    pm.register(_python_plugin, name="python")


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def broken_plugins() -> list[BrokenPlugin]:
    load_plugins()
    registry()
    return list(_broken)


def plugin_infos() -> list[PluginInfo]:
    """Every registered plugin with its distribution and implemented hooks."""
    load_plugins()
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(impl_hook.name for impl_hook in pm.get_hookcallers(plugin) or [])
        dist, version = _dists.get(name, ("", ""))
        infos.append(PluginInfo(name, dist, version, hooks))
    return infos


def registry() -> dict[str, dict[str, Component]]:
    """All components by kind and name, collected from every plugin's register hooks."""
    global _registry
    load_plugins()
    if _registry is not None:
        return _registry
    result: dict[str, dict[str, Component]] = {kind: {} for kind in COMPONENT_HOOKS}
    failed: set[str] = {b.name for b in _broken}
    for kind, hook_name in COMPONENT_HOOKS.items():
        caller = getattr(pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):  # registration order
            if impl.plugin_name in failed:
                continue

            def register(name, factory, options=None, description=None, _kind=kind, _plugin=impl.plugin_name):
                doc = description if description is not None else (factory.__doc__ or "").strip().split("\n")[0]
                result[_kind][name] = Component(_kind, name, factory, options, doc, _plugin)

            try:
                impl.function(register=register)
            except Exception as exc:
                failed.add(impl.plugin_name)
                dist, version = _dists.get(impl.plugin_name, ("", ""))
                _broken.append(BrokenPlugin(impl.plugin_name, dist, version, _describe(exc)))
                for comps in result.values():
                    for cname in [n for n, c in comps.items() if c.plugin == impl.plugin_name]:
                        del comps[cname]
    for name in failed:
        if pm.get_plugin(name) is not None and name != "python":
            pm.unregister(name=name)
    _registry = result
    return result


def invalidate() -> None:
    """Forget the collected registry (after registering or unregistering plugins)."""
    global _registry
    _registry = None


def register_plugin(plugin, name=None) -> None:
    """Register a plugin object or module (with ``@hookimpl`` functions) from Python."""
    load_plugins()
    pm.register(plugin, name=name)
    invalidate()


def unregister_plugin(plugin=None, name=None) -> None:
    pm.unregister(plugin, name=name)
    invalidate()


def get_component(kind: str, name: str, *, file=None, key=None) -> Component:
    """Look a component up, or raise a RecipeError listing what is registered."""
    comps = registry()[kind]
    if name in comps:
        return comps[name]
    known = sorted(comps)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    owners = sorted({c.plugin for c in comps.values()})
    broken = list(_broken)
    msg = f"unknown {kind} {name!r}{hint}; registered: {', '.join(known) or '(none)'}"
    if owners:
        msg += f" (from plugins: {', '.join(owners)})"
    if broken:
        msg += "; broken plugins that may provide it: " + ", ".join(f"{b.name} ({b.error})" for b in broken)
    if os.environ.get(LOAD_PLUGINS_ENV) is not None:
        msg += f"; note {LOAD_PLUGINS_ENV}={os.environ[LOAD_PLUGINS_ENV]!r} restricts the plugins loaded"
    raise RecipeError(msg, file=file, key=key)


# --- registering from Python, without packaging --------------------------

_local: dict[str, list[tuple]] = {kind: [] for kind in COMPONENT_HOOKS}


class _PythonPlugin:
    """Carries the components registered with ``odin_core.register_*`` decorators."""


def _make_hook(kind):
    def hook(register):
        for name, factory, options, description in _local[kind]:
            register(name, factory, options=options, description=description)

    hook.__name__ = COMPONENT_HOOKS[kind]
    return hookspecs.hookimpl(hook)


_python_plugin = _PythonPlugin()
for _kind, _hook in COMPONENT_HOOKS.items():
    setattr(_python_plugin, _hook, _make_hook(_kind))


def _register_local(kind: str):
    def register(name: str, *, options=None, description=None):
        def decorator(factory):
            _local[kind][:] = [entry for entry in _local[kind] if entry[0] != name]
            _local[kind].append((name, factory, options, description))
            invalidate()
            return factory

        return decorator

    register.__name__ = f"register_{kind}"
    register.__doc__ = (
        f"Decorator registering a {kind} factory under ``name`` from Python code: "
        f"``@odin_core.register_{kind}('my-name', options=MyOptions)``. "
        f"The factory is called with the validated options (or None)."
    )
    return register


register_source = _register_local("source")
register_encoder = _register_local("encoder")
register_task = _register_local("task")
register_loader = _register_local("loader")
register_lora_strategy = _register_local("lora")
register_evaluator = _register_local("evaluator")
register_tracker = _register_local("tracker")
