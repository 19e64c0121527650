"""Parameter checks for component factories, hpdesc's and plugins' (the public API plugins use).

A factory checks each value it is given with these and so refuses a bad one with
:class:`~hpdesc.errors.ParameterError` (a ``ValueError``) naming the parameter; the registry
reports that as the user's error (exit 2), naming the component. Pure Python: importing this
module imports neither Keras nor numpy.
"""

from __future__ import annotations

import numbers

from hpdesc.errors import ParameterError


def check_int(name: str, value, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise ParameterError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"parameter '{name}' must be an integer, got {value!r}")
    if value < minimum:
        raise ParameterError(f"parameter '{name}' must be >= {minimum}, got {value!r}")
    return int(value)


def check_float(name: str, value, minimum: float | None = None, maximum: float | None = None,
                include_max: bool = True) -> float:
    """Return ``value`` as float if it is a number in range, else raise ParameterError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"parameter '{name}' must be a number, got {value!r}")
    value = float(value)
    if value != value:  # NaN
        raise ParameterError(f"parameter '{name}' must be a number, got nan")
    if minimum is not None and value < minimum:
        raise ParameterError(f"parameter '{name}' must be >= {minimum}, got {value!r}")
    if maximum is not None and (value > maximum or (not include_max and value == maximum)):
        bound = "<=" if include_max else "<"
        raise ParameterError(f"parameter '{name}' must be {bound} {maximum}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """Return ``value`` if it is a bool, else raise ParameterError naming ``name``."""
    if not isinstance(value, bool):
        raise ParameterError(f"parameter '{name}' must be true or false, got {value!r}")
    return value


def check_applies(name: str, value, applies: bool, requirement: str, actual: str) -> None:
    """Refuse a parameter that was given (not None) where it cannot take effect.

    Factories default such parameters to ``None`` so that "given" and "default" differ; a
    setting that silently does nothing (``alpha`` of a ReLU network) is a ParameterError that names
    it, what it needs and what the call has instead.
    """
    if value is not None and not applies:
        raise ParameterError(f"parameter '{name}' only applies with {requirement} (this call has {actual}): "
                             f"remove {name}, or give it with {requirement}")


def check_input_shape(input_shape, divisor: int = 1, minimum: int = 1) -> tuple[int, int, int]:
    """Validate a channels-last ``(H, W, C)`` patch shape; H and W must be multiples of ``divisor``."""
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ParameterError(f"parameter 'input_shape' must be (H, W, C), got {input_shape!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ParameterError(f"parameter 'input_shape' must be (H, W, C), got {input_shape!r}")
    h, w, _ = shape
    if h < minimum or w < minimum:
        raise ParameterError(f"parameter 'input_shape' needs H, W >= {minimum}, got {shape!r}")
    if h % divisor or w % divisor:
        raise ParameterError(
            f"parameter 'input_shape' needs H and W divisible by {divisor} for this model, got {shape!r}"
        )
    return shape


__all__ = ["ParameterError", "check_applies", "check_bool", "check_float", "check_input_shape", "check_int"]
