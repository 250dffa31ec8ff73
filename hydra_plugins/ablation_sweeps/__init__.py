"""Hydra search-path plugin: makes the named studies in ``sweeps/`` loadable by name.

python -m ablation -cn paper_table3
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class AblationSweepsSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        try:
            from ablation.config.schema import package_dir

            sweeps = package_dir("sweeps")
        except (ImportError, FileNotFoundError):
            return
        search_path.append(provider="ablation-sweeps", path=f"file://{sweeps}")
