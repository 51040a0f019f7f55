"""Keras 2's ``keras.wrappers``: ``lstmcore.wrappers.scikit_learn`` holds ``KerasClassifier``,
``KerasRegressor`` and ``WindowTransformer`` (it needs scikit-learn:
``pip install lstmcore[sklearn]``; importing this package alone does not)."""

__all__ = ["scikit_learn"]


def __getattr__(name):  # `lstmcore.wrappers.scikit_learn` without importing scikit-learn here
    if name == "scikit_learn":
        import importlib

        return importlib.import_module(".scikit_learn", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
