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
