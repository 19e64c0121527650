"""Walk a Keras model's layers through public API (nested models and wrappers included)."""

from __future__ import annotations


def all_layers(model) -> list:
    """Every layer of ``model``, depth first, nested models' and wrappers' layers included, each once."""
    import keras

    out, seen, todo = [], set(), list(getattr(model, "layers", []))
    while todo:
        la = todo.pop(0)
        if id(la) in seen:
            continue
        seen.add(id(la))
        out.append(la)
        # nested models list theirs; a Wrapper (TimeDistributed, ...) holds one in ``layer``
        todo[:0] = [la.layer] if isinstance(la, keras.layers.Wrapper) else list(getattr(la, "layers", []))
    return out


def batchnorm_layers(model) -> list:
    """Every ``keras.layers.BatchNormalization`` of ``model`` (each once).

    A BatchNormalization inside a custom layer that is not a Model is listed by no public Keras
    API; hpdesc's models have none.
    """
    import keras

    return [la for la in all_layers(model) if isinstance(la, keras.layers.BatchNormalization)]
