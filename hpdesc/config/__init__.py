"""Typed run configuration: defaults < ``--config FILE.toml`` < flags < ``--set KEY=VALUE``.

A run's configuration is a few fixed sections (``data``, ``training``, ``benchmark``), whose keys
are checked by name and type, and six component sections (``denoiser``, ``descriptor``,
``denoiser_loss``, ``descriptor_loss``, ``denoiser_optimizer``, ``descriptor_optimizer``), each a
registry ``name`` plus free-form parameters that are handed to the component's factory (and
validated by building it, see :func:`hpdesc.validate.check_components`). The saved ``config.toml``
of a run is fully resolved and re-running it reproduces the run; its ``[provenance]`` section
records which distribution and version provided each component and is informational on input.

One job per module: :mod:`~hpdesc.config.schema` (sections, defaults, value checks),
:mod:`~hpdesc.config.layers` (how layers merge, and whose parameters survive a change of component:
the rules are in its docstring), :mod:`~hpdesc.config.toml` (reading files and ``--set`` values,
lines for messages). Import the names from here. The package imports no ML library.
"""

from hpdesc.config.layers import apply_sets, from_dict, given_params, merge, resolve
from hpdesc.config.schema import (COMPONENTS, DESCRIPTOR_INPUTS, DISTRIBUTE_MODES, FIXED_SECTIONS, LR_SCALINGS,
                                  NO_DESCRIPTOR, PRECISIONS, STAGE_PARAMS, TASKS, WATCHDOG_MODES, BenchmarkConfig,
                                  Component, DataConfig, RunConfig, TrainingConfig, check, check_denoiser_settings,
                                  check_descriptor_settings, check_fixed_descriptor, check_distribute,
                                  default_layer, defaults, parse_ratio, same_component, unused_denoiser_settings,
                                  unused_descriptor_settings)
from hpdesc.config.toml import KEY_RE, TomlLines, parse_role_sets, parse_set, parse_value, read_toml

__all__ = [
    "COMPONENTS", "DESCRIPTOR_INPUTS", "DISTRIBUTE_MODES", "FIXED_SECTIONS", "KEY_RE", "LR_SCALINGS",
    "NO_DESCRIPTOR", "PRECISIONS", "STAGE_PARAMS", "TASKS", "WATCHDOG_MODES",
    "BenchmarkConfig", "Component", "DataConfig", "RunConfig", "TrainingConfig", "TomlLines",
    "apply_sets", "check", "check_denoiser_settings", "check_descriptor_settings", "check_fixed_descriptor",
    "check_distribute", "default_layer", "defaults",
    "from_dict", "given_params", "merge", "parse_ratio", "parse_role_sets", "parse_set", "parse_value", "read_toml", "resolve",
    "same_component", "unused_denoiser_settings", "unused_descriptor_settings",
]
