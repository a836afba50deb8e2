"""The declared option combinations: supported ones (each baked and checked) and invalid ones.

Together the supported combinations use every value of every choice option at least once
(a test checks that against cookiecutter.json), so adding a value without a combination fails.
"""

from __future__ import annotations

SUPPORTED: dict[str, dict[str, str]] = {
    "defaults": {},
    "py312-regression-gbm-s3-bsd": {
        "python_version": "3.12",
        "task": "regression",
        "model_family": "gradient_boosting",
        "dvc_remote": "s3",
        "dvc_remote_url": "s3://ml-bucket/dvc-store",
        "license": "BSD-3-Clause",
    },
    "py313-classification-linear-gcs-apache": {
        "python_version": "3.13",
        "task": "classification",
        "model_family": "linear",
        "dvc_remote": "gcs",
        "dvc_remote_url": "gs://ml-bucket/dvc",
        "license": "Apache-2.0",
    },
    "regression-linear-azure-nolicense": {
        "task": "regression",
        "model_family": "linear",
        "dvc_remote": "azure",
        "dvc_remote_url": "azure://container/dvc",
        "license": "none",
    },
    # Also the pull deploy mode: Argo CD Applications instead of the deploy workflow.
    "long-names-ssh-custom-cron-argocd": {
        "project_name": "Customer Churn Forecasting Service",
        "package_name": "customer_churn_forecasting_service_model",
        "description": 'Predicts churn; "quotes", back\\slashes and: colons survive',
        "author_name": "O'Brien, Zoë",
        "github_owner": "Acme-Data-Org",
        "model_family": "gradient_boosting",
        "dvc_remote": "ssh",
        "dvc_remote_url": "ssh://dvc@storage.example.com/srv/dvc",
        "k8s_namespace": "ml-production",
        "drift_schedule": "*/30 2-4 1,15 * MON-FRI",
        "deploy": "argocd",
    },
    # Also no monitoring objects (a cluster without the Prometheus Operator).
    "regression-random-forest": {
        "task": "regression",
        "model_family": "random_forest",
        "monitoring": "none",
    },
}

# (answers, text the pre-generation hook must print). Each must fail and leave nothing behind.
INVALID: dict[str, tuple[dict[str, str], str]] = {
    "slug-uppercase": ({"project_slug": "My-Project"}, "project_slug 'My-Project' is not valid"),
    "slug-underscore": ({"project_slug": "my_project"}, "project_slug 'my_project' is not valid"),
    "package-hyphen": ({"package_name": "my-pkg"}, "package_name 'my-pkg' is not a valid Python package"),
    "package-keyword": ({"package_name": "class"}, "package_name 'class' is not a valid Python package"),
    "package-shadows-stdlib": ({"package_name": "json"}, "package_name 'json' would shadow"),
    "package-starts-with-digit": ({"package_name": "1model"}, "package_name '1model' is not a valid"),
    "email-no-at": ({"author_email": "jane.example.com"}, "author_email 'jane.example.com' is not an e-mail"),
    "email-no-domain-dot": ({"author_email": "jane@localhost"}, "author_email 'jane@localhost'"),
    "cron-four-fields": ({"drift_schedule": "0 6 * *"}, "needs exactly 5 fields"),
    "cron-bad-hour": ({"drift_schedule": "0 25 * * 1"}, "'25' in the hour field"),
    "cron-bad-step": ({"drift_schedule": "*/0 * * * *"}, "step '0' in the minute field"),
    "cron-word": ({"drift_schedule": "@daily"}, "needs exactly 5 fields"),
    "remote-scheme-mismatch": (
        {"dvc_remote": "s3", "dvc_remote_url": "gs://bucket/x"},
        "does not match dvc_remote 's3': it must start with s3://",
    ),
    "remote-url-missing": ({"dvc_remote": "azure", "dvc_remote_url": ""}, "dvc_remote_url is empty"),
    "remote-url-without-remote": ({"dvc_remote_url": "s3://bucket/x"}, "dvc_remote is 'none'"),
    "namespace-uppercase": ({"k8s_namespace": "ML"}, "k8s_namespace 'ML' is not a usable Kubernetes"),
    "namespace-too-long-for-staging": ({"k8s_namespace": "n" * 56}, "at most 55 characters"),
    "github-owner-space": ({"github_owner": "jane doe"}, "github_owner 'jane doe'"),
}


# One combination per python_version: tests/test_pythons.py sets each up in its own venv (uv sync
# from its uv.lock, on that Python) and runs its pipeline and its own test suite there.
BY_PYTHON: dict[str, str] = {
    "3.11": "regression-random-forest",
    "3.12": "py312-regression-gbm-s3-bsd",
    "3.13": "py313-classification-linear-gcs-apache",
}
