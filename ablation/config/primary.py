"""The study file named by ``-cn`` must build on the framework's config.

A study yaml is a Hydra *primary* config: without ``defaults: [config, _self_]`` it has
none of the framework's settings (``seed``, ``task``, ``optim``, ...). Hydra would then
fail on the first override with a hint (``+seed``) that launches jobs which cannot run, and
leave ``multirun/<date>/`` folders behind. :func:`check_study_file` finds the file the
way Hydra will (the package's ``conf/``, the named studies in ``sweeps/``, then ``-cd``),
reads its defaults list, and raises one ``ConfigError`` naming the two lines to add,
before Hydra creates anything.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from ablation.errors import ConfigError

#: What a study yaml needs at its top, as the error shows it.
HEADER = "# @package _global_"
DEFAULTS = "defaults: [config, _self_]"
#: The framework's config, as a study's defaults list names it.
FRAMEWORK = ("config", "/config")
_MAX_DEPTH = 8  # a study may build on another study that builds on config


def _arguments(argv: Sequence[str]):
    from hydra._internal.utils import get_args_parser

    try:
        args, _ = get_args_parser().parse_known_args(list(argv))
    except SystemExit:  # Hydra reports a bad command line itself
        return None
    return args


def _search_dirs(args) -> list[Path]:
    """Where Hydra looks for the primary config, in its order (see hydra._internal.utils)."""
    from ablation.config.schema import package_dir

    dirs = []
    if args.config_path is not None:  # -cp: absolute, or relative to ablation/__main__.py
        base = Path(__file__).resolve().parents[1]
        dirs.append((base / args.config_path).resolve())
    else:
        dirs.append(package_dir("conf"))
    with contextlib.suppress(FileNotFoundError):
        dirs.append(package_dir("sweeps"))
    if args.config_dir is not None:
        dirs.append(Path(os.path.abspath(args.config_dir)))
    return dirs


def _find(name: str, dirs: Sequence[Path]) -> Path | None:
    name = name.removesuffix(".yaml").lstrip("/")
    for folder in dirs:
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    return None


def _builds_on_config(path: Path, dirs: Sequence[Path], depth: int = 0) -> bool | None:
    """True when the file's defaults list includes the framework's config (directly or
    through another study); None when the file cannot be read as YAML (Hydra says why)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    defaults = data.get("defaults") if isinstance(data, dict) else None
    if not isinstance(defaults, list):
        return False
    for entry in defaults:
        if not isinstance(entry, str) or entry.strip() == "_self_":
            continue  # a group's choice or an override: not a base config
        if entry.strip() in FRAMEWORK:
            return True
        other = _find(entry.strip(), dirs)
        nested = other is not None and other != path and depth < _MAX_DEPTH
        if nested and _builds_on_config(other, dirs, depth + 1):
            return True
    return False


def check_study_file(argv: Sequence[str]) -> None:
    """Raise ``ConfigError`` (one line: the file and the two lines to add) when the config
    named by ``-cn`` does not build on the framework's ``config``; else do nothing."""
    args = _arguments(argv)
    if args is None or not args.config_name:
        return
    dirs = _search_dirs(args)
    path = _find(args.config_name, dirs)
    if path is None:
        return  # Hydra says it cannot find it
    from ablation.config.schema import package_dir

    if path == package_dir("conf") / "config.yaml":
        return
    if _builds_on_config(path, dirs) is not False:
        return
    shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    raise ConfigError(
        f"{shown} does not build on the framework's config (no 'config' in its defaults "
        f"list), so it has no seed, task or optim settings; put these two lines at its "
        f"top: '{HEADER}' and '{DEFAULTS}'"
    )
