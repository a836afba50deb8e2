"""The project's package: data, features, training, evaluation, serving and drift checks."""

__version__ = "0.1.0"
