"""The plugin manager: entry-point loading, broken plugins, and the component registry.

Vocabulary (one word per idea, the same in hooks, decorators, ``odin plugins`` and errors):

==================  ============================  ============================  =====================
component kind      hook                          decorator                     recipe key
==================  ============================  ============================  =====================
``source``          ``register_sources``          ``register_source``           ``[[data.sources]] name``
``encoder``         ``register_encoders``         ``register_encoder``          ``data.encodings``
``task``            ``register_tasks``            ``register_task``             ``data.tasks``
``model_loader``    ``register_model_loaders``    ``register_model_loader``     ``[model] loader``
``lora_strategy``   ``register_lora_strategies``  ``register_lora_strategy``    ``[finetune] strategy``
``evaluator``       ``register_evaluators``       ``register_evaluator``        ``[[eval]] name``
``tracker``         ``register_trackers``         ``register_tracker``          ``[[tracking]] name``
``reward``          ``register_rewards``          ``register_reward``           ``[[rl.rewards]] name``
==================  ============================  ============================  =====================

Component names are ``<plugin>.<name>`` (``hypernetx.n_set``, ``models.llama``); a
name registered by two plugins is a clash, reported with both plugins' names.
"""

from __future__ import annotations

import difflib
import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from odin_core.components import hookspecs
from odin_core.foundation import console
from odin_core.foundation.errors import OdinError, RecipeError

ENTRY_POINT_GROUP = "odin"
#: the distribution that ships the built-in plugins
DISTRIBUTION = "odin-slm"
LOAD_PLUGINS_ENV = "ODIN_LOAD_PLUGINS"
#: the plugin that carries components registered with the ``register_*`` decorators
PYTHON_PLUGIN = "python"

#: component kind -> the hook that registers it
COMPONENT_HOOKS = {
    "source": "register_sources",
    "encoder": "register_encoders",
    "task": "register_tasks",
    "model_loader": "register_model_loaders",
    "lora_strategy": "register_lora_strategies",
    "engine": "register_engines",
    "evaluator": "register_evaluators",
    "tracker": "register_trackers",
    "reward": "register_rewards",
}
#: kind names of earlier releases
KIND_ALIASES = {"loader": "model_loader", "lora": "lora_strategy"}


@dataclass
class Component:
    """A registered component: its name, kind, factory, options model and provider."""

    kind: str
    name: str
    factory: Callable[..., Any]
    options: Any = None  # a pydantic model class, or None
    description: str = ""
    plugin: str = ""
    aliases: tuple[str, ...] = ()

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
class Clash:
    """Two plugins registered the same component name (or alias)."""

    kind: str
    name: str
    plugins: tuple[str, str]

    def describe(self) -> str:
        return f"{self.kind} {self.name!r} is registered by both plugin {self.plugins[0]!r} and plugin {self.plugins[1]!r}"


@dataclass
class PluginInfo:
    name: str
    distribution: str = ""
    version: str = ""
    hooks: list[str] = field(default_factory=list)


@dataclass
class Registry:
    """Every component by kind and name, with deprecated aliases and clashes."""

    components: dict[str, dict[str, Component]]
    aliases: dict[str, dict[str, str]]
    clashes: list[Clash]

    def __getitem__(self, kind: str) -> dict[str, Component]:
        return self.components[KIND_ALIASES.get(kind, kind)]

    def items(self):
        return self.components.items()


pm = pluggy.PluginManager("odin")
pm.add_hookspecs(hookspecs)

_loaded = False
_broken: list[BrokenPlugin] = []
_failed: set[str] = set()  # registered plugin names whose import or registration failed
_dists: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)
_registry: Registry | None = None
_warned_aliases: set[tuple[str, str]] = set()


def _allowed_entry_points():
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def load_plugins() -> None:
    """Load entry-point plugins of group ``odin`` once; failures and name clashes become broken plugins."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    allowed = _allowed_entry_points()
    # Odin's own plugins first: a third party's entry point cannot take a built-in's name
    entry_points = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP),
                          key=lambda ep: (ep.dist is None or ep.dist.name != DISTRIBUTION))
    for ep in entry_points:
        if allowed is not None and ep.name not in allowed:
            continue
        dist = ep.dist.name if ep.dist else ""
        version = ep.dist.version if ep.dist else ""
        if pm.get_plugin(ep.name) is not None or ep.name == PYTHON_PLUGIN:
            owner = _dists.get(ep.name, ("odin_core", ""))[0]
            _broken.append(BrokenPlugin(ep.name, dist, version,
                                        f"entry point name {ep.name!r} clashes with the plugin of that name from "
                                        f"{owner!r}; rename the entry point in {dist or 'its'} pyproject.toml"))
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a third party's bug must not take the CLI down
            _broken.append(BrokenPlugin(ep.name, dist, version, _describe(exc)))
            _failed.add(ep.name)
            continue
        _dists[ep.name] = (dist, version)
    pm.register(_python_plugin, name=PYTHON_PLUGIN)


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def is_builtin(component: Component) -> bool:
    """Whether ``component`` comes from Odin's own distribution (a built-in plugin), not a third party's."""
    load_plugins()
    return _dists.get(component.plugin, ("", ""))[0] == DISTRIBUTION


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


def _collect(kind: str, hook_name: str, failed: set[str], reg: Registry) -> None:
    comps, aliases = reg.components[kind], reg.aliases[kind]
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):  # registration order
        if impl.plugin_name in failed:
            continue
        mine: list[Component] = []

        def register(name, factory, options=None, description=None, aliases=(), _plugin=impl.plugin_name):
            doc = description if description is not None else (factory.__doc__ or "").strip().split("\n")[0]
            mine.append(Component(kind, name, factory, options, doc, _plugin, tuple(aliases)))

        try:
            impl.function(register=register)
        except Exception as exc:
            failed.add(impl.plugin_name)
            dist, version = _dists.get(impl.plugin_name, ("", ""))
            _broken.append(BrokenPlugin(impl.plugin_name, dist, version, _describe(exc)))
            continue
        for component in mine:
            for name in (component.name, *component.aliases):
                owner = comps.get(name) or comps.get(aliases.get(name, ""))
                if owner is not None and owner.plugin != component.plugin:
                    reg.clashes.append(Clash(kind, name, (owner.plugin, component.plugin)))
            comps[component.name] = component  # the same plugin registering a name again replaces it
            for alias in component.aliases:
                aliases[alias] = component.name


def registry() -> Registry:
    """All components by kind and name, collected through every plugin's register hooks."""
    global _registry
    load_plugins()
    if _registry is not None:
        return _registry
    reg = Registry({kind: {} for kind in COMPONENT_HOOKS}, {kind: {} for kind in COMPONENT_HOOKS}, [])
    failed = _failed
    for kind, hook_name in COMPONENT_HOOKS.items():
        _collect(kind, hook_name, failed, reg)
    for comps in reg.components.values():  # a plugin that failed in one hook provides nothing
        for cname in [n for n, c in comps.items() if c.plugin in failed]:
            del comps[cname]
    for name in failed:
        if pm.get_plugin(name) is not None and name != PYTHON_PLUGIN:
            pm.unregister(name=name)
    _registry = reg
    return reg


def invalidate() -> None:
    """Forget the collected registry (after registering or unregistering plugins)."""
    global _registry
    _registry = None


def register_plugin(plugin, name=None) -> None:
    """Register a plugin object or module (with ``@hookimpl`` functions) from Python; a name already taken
    (by an installed plugin, or an earlier call) is an OdinError naming its owner, never silently ignored."""
    load_plugins()
    if name is not None and pm.get_plugin(name) is not None:
        owner = _dists.get(name, ("Python code", ""))[0]
        raise OdinError(f"a plugin named {name!r} is already registered (by {owner}); choose another name, or "
                        "unregister_plugin(name=...) first")
    if pm.is_registered(plugin):
        raise OdinError(f"plugin {plugin!r} is already registered")
    pm.register(plugin, name=name)
    invalidate()


def unregister_plugin(plugin=None, name=None) -> None:
    pm.unregister(plugin, name=name)
    invalidate()


def canonical_name(kind: str, name: str) -> str:
    """The registered name for ``name`` (itself, or what a deprecated alias stands for)."""
    kind = KIND_ALIASES.get(kind, kind)
    reg = registry()
    if name in reg.components[kind]:
        return name
    return reg.aliases[kind].get(name, name)


def get_component(kind: str, name: str, *, file=None, key=None) -> Component:
    """Look a component up, or raise a RecipeError listing what is registered.

    A deprecated alias resolves to its component with a one-time warning; a name
    two plugins registered is an error naming both."""
    kind = KIND_ALIASES.get(kind, kind)
    reg = registry()
    comps = reg.components[kind]
    target = canonical_name(kind, name)
    clash = next((c for c in reg.clashes if c.kind == kind and c.name in (name, target)), None)
    if clash is not None:
        raise RecipeError(f"{clash.describe()}; uninstall one of them, or restrict the plugins loaded with "
                          f"{LOAD_PLUGINS_ENV}", file=file, key=key)
    if target in comps:
        if target != name and (kind, name) not in _warned_aliases:
            _warned_aliases.add((kind, name))
            where = f"{file}: {key}: " if file and key else ""
            console.warn(f"warning: {where}{kind} name {name!r} is deprecated; use {target!r}")
        return comps[target]
    known = sorted(comps)
    close = difflib.get_close_matches(name, known + sorted(reg.aliases[kind]), n=1)
    hint = f" (did you mean {canonical_name(kind, close[0])!r}?)" if close else ""
    owners = sorted({c.plugin for c in comps.values()})
    msg = f"unknown {kind} {name!r}{hint}; registered: {', '.join(known) or '(none)'}"
    if owners:
        msg += f" (from plugins: {', '.join(owners)})"
    if _broken:
        msg += "; broken plugins that may provide it: " + ", ".join(f"{b.name} ({b.error})" for b in _broken)
    if os.environ.get(LOAD_PLUGINS_ENV) is not None:
        msg += f"; note {LOAD_PLUGINS_ENV}={os.environ[LOAD_PLUGINS_ENV]!r} restricts the plugins loaded"
    raise RecipeError(msg, file=file, key=key)


def hook_impls(hook_name: str):
    """(plugin name, function, argument names) of each implementation of a hook, in call order, so that each
    can be called on its own (lifecycle hooks, ``register_commands``)."""
    load_plugins()
    caller = getattr(pm.hook, hook_name)
    return [(impl.plugin_name, impl.function, impl.argnames) for impl in reversed(caller.get_hookimpls())]


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
register_model_loader = _register_local("model_loader")
register_lora_strategy = _register_local("lora_strategy")
register_evaluator = _register_local("evaluator")
register_tracker = _register_local("tracker")
register_engine = _register_local("engine")
register_reward = _register_local("reward")


def get_engine(name: str, *, file=None, key: str = "training.engine"):
    """The training engine registered as ``name`` (``training.engine``), created; a RecipeError naming the key
    and listing the registered engines for an unknown name."""
    return get_component("engine", name, file=file, key=key).create(None)
#: deprecated spelling of ``register_model_loader``
register_loader = register_model_loader
