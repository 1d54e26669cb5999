"""Checks of the config groups Hydra lets pass silently: ``optional experiment: null`` in conf/config.yaml
makes a misspelt ``experiment=nosuch`` run the default job instead of failing, which on a GPU cluster
costs hours. Run inside a Hydra job (run.py), where the search path of the composed config is known."""

from __future__ import annotations

from eta.errors import ConfigError


def group_options(group: str) -> list[str]:
    """The options of ``group`` on the composed config's search path (conf/ and hydra.searchpath)."""
    from hydra._internal.config_repository import ConfigRepository
    from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
    from hydra.core.hydra_config import HydraConfig

    search_path = ConfigSearchPathImpl()
    for source in HydraConfig.get().runtime.config_sources:
        search_path.append(source.provider, f"{source.schema}://{source.path}")
    return sorted(ConfigRepository(search_path).get_group_options(group))


def check_optional_choice(group: str = "experiment") -> None:
    """Raise ConfigError when the run names an option of an optional group that does not exist."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    choice = HydraConfig.get().runtime.choices.get(group)
    if choice in (None, "null"):
        return
    known = group_options(group)
    if choice not in known:
        listed = ", ".join(known) if known else "none"
        raise ConfigError(f"{group}={choice}: no such {group}; the {group}s there are: {listed}")


_SKIPPED: set[str] = set()


def existing_options(group: str, names: str) -> str:
    """``names`` (comma-separated options of ``group``) less those with no config file, as a sweep value:
    the comparison lists every arm it is meant to have in one place, and runs the ones that exist so far.
    A name left out is said once on stderr; none left is a ConfigError."""
    import sys

    wanted = [n.strip() for n in str(names).split(",") if n.strip()]
    known = set(_options_here(group))
    kept = [n for n in wanted if n in known]
    missing = [n for n in wanted if n not in known and n not in _SKIPPED]
    if missing:
        _SKIPPED.update(missing)
        print(f"note: {group} {', '.join(missing)}: no {group}/<name>.yaml yet; left out of the sweep", file=sys.stderr,
              flush=True)
    if not kept:
        raise ConfigError(f"{group}: none of {', '.join(wanted)} has a config file; the {group}s there are: "
                          f"{', '.join(sorted(known)) or 'none'}")
    return ",".join(kept)


def _options_here(group: str) -> list[str]:
    """The group's options on the running job's search path, else in $ETA_ROOT/experiments/<group>/."""
    import os
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return group_options(group)
    root = Path(os.environ.get("ETA_ROOT", ".")) / "experiments" / group
    return sorted(p.stem for p in root.glob("*.yaml"))


def register_resolvers() -> None:
    """``${eta_existing:GROUP,a,b,c}``: the options of GROUP among a, b, c that have a config file."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("eta_existing"):
        OmegaConf.register_new_resolver("eta_existing", lambda group, *names: existing_options(group, ",".join(names)),
                                        use_cache=False)
