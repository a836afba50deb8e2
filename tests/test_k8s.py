"""Kubernetes manifests and the Dockerfile of the generated project: render, validate, scan.

No Kubernetes API server can run here, so verification stops just before `kubectl apply`:
`kubectl kustomize` renders each overlay (what `kubectl apply -k` would send), kubernetes-validate
checks the result against the API schemas, and checkov must report zero failed checks on the
rendered manifests and on the Dockerfile. Every checkov skip is inline, carries a reason, and is
counted here, so adding one is a visible change.

The image by digest in each overlay's kustomize `images:` field is set with the real
`kustomize edit set image` (installed by `make install`, as GitHub's runners ship it): the promotion
diff is the digest line only, and `k8s/show-image.sh` reads the rendered result. With
`deploy=argocd`, the Argo CD objects are checked against Argo CD's own types by
tests/argocd/validate.mjs (npm `@kubernetes-models/argo-cd`, installed into .node-tools/ by
`make install`), and the validator is shown to reject broken Applications.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from combinations import SUPPORTED
from helpers import BIN, KUBECTL, TEMPLATE, bake, project_env, require_kustomize, set_image

OVERLAYS = ("staging", "production")
ZERO_DIGEST = "sha256:" + "0" * 64
DIGEST = "sha256:" + "3f" * 32
OTHER_DIGEST = "sha256:" + "a1" * 32
# The fields of one entry of kustomize's `images:` (sigs.k8s.io/kustomize/api/types.Image).
KUSTOMIZE_IMAGE_FIELDS = {"name", "newName", "newTag", "digest"}
ARGOCD_VALIDATOR = TEMPLATE / "tests/argocd/validate.mjs"
# Every inline checkov skip in the generated project: (file, check id). Reasons are required.
EXPECTED_SKIPS: set[tuple[str, str]] = set()
KINDS = {
    "Namespace",
    "ServiceAccount",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
}
# monitoring=prometheus-operator adds these (tests/test_monitoring.py checks them).
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule", "ConfigMap"}


def checkov_binary() -> str:
    """checkov's pins clash with the test venv, so it lives in its own venv (see requirements-checkov.txt)."""
    for candidate in (
        os.environ.get("CHECKOV"),
        str(TEMPLATE / ".venv-checkov/bin/checkov"),
        shutil.which("checkov"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail(
        "checkov not found: python3 -m venv .venv-checkov && "
        ".venv-checkov/bin/pip install -r requirements-checkov.txt"
    )


@pytest.fixture(scope="module", params=["default", "custom"])
def project(request, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    answers = (
        {}
        if request.param == "default"
        else {
            "project_name": "Churn Model",
            "github_owner": "Acme-Corp",
            "k8s_namespace": "ml-serving",
            "deploy": "argocd",
            "monitoring": "none",
            "dvc_remote": "s3",  # the prediction log goes to the bucket: egress, IRSA
            "dvc_remote_url": "s3://ml-bucket/dvc",
        }
    )
    path = bake(tmp_path_factory.mktemp(f"k8s-{request.param}"), **answers)
    owner = answers.get("github_owner", "jane-doe")
    expected = {
        "slug": path.name,
        "owner": owner,
        "image": f"ghcr.io/{owner.lower()}/{path.name}",  # image names are lowercase
        "namespace": answers.get("k8s_namespace", path.name),
        "deploy": answers.get("deploy", "actions"),
        "remote": answers.get("dvc_remote", "none"),
        "kinds": KINDS | (MONITORING_KINDS if answers.get("monitoring") != "none" else set()),
    }
    return path, expected


def kustomize(folder: Path) -> str:
    """What `kubectl apply -k FOLDER` would send (kubectl's built-in kustomize)."""
    result = subprocess.run([KUBECTL, "kustomize", str(folder)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(project: Path, overlay: str) -> str:
    return kustomize(project / "k8s/overlays" / overlay)


# The commented-out opt-in of each overlay: a `components:` list of its own, or (with monitoring
# on) one more entry of the existing list.
INGRESS_OPT_IN = ("# components:\n# - ../../components/ingress\n", "# - ../../components/ingress\n")


def with_ingress(project: Path, destination: Path) -> Path:
    """A copy of k8s/ with the optional Ingress component switched on as docs/cluster.md says."""
    shutil.copytree(project / "k8s", destination)
    for overlay in OVERLAYS:
        kustomization = destination / "overlays" / overlay / "kustomization.yaml"
        text = kustomization.read_text()
        opt_in = [line for line in INGRESS_OPT_IN if line in text]
        assert opt_in, f"{overlay}: the commented-out opt-in line is missing"
        kustomization.write_text(text.replace(opt_in[0], opt_in[0].replace("# ", "")))
    return destination


@pytest.fixture(scope="module")
def rendered(project, tmp_path_factory) -> dict[str, Path]:
    """Each overlay as shipped, and with the optional Ingress on: both are validated and scanned."""
    out = tmp_path_factory.mktemp("rendered")
    k8s_with_ingress = with_ingress(project[0], out / "k8s-with-ingress")
    files = {}
    for overlay in OVERLAYS:
        files[overlay] = out / f"{overlay}.yaml"
        files[overlay].write_text(render(project[0], overlay))
        files[f"{overlay}+ingress"] = out / f"{overlay}+ingress.yaml"
        files[f"{overlay}+ingress"].write_text(kustomize(k8s_with_ingress / "overlays" / overlay))
    return files


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_optional_ingress_routes_to_the_service_in_the_overlays_namespace(rendered, overlay):
    plain, routed = documents(rendered[overlay]), documents(rendered[f"{overlay}+ingress"])
    assert "Ingress" not in plain  # off by default
    ingress = routed["Ingress"]
    assert ingress["metadata"]["namespace"] == plain["Service"]["metadata"]["namespace"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": plain["Service"]["metadata"]["name"], "port": {"name": "http"}}
    assert ingress["metadata"]["labels"]["app.kubernetes.io/instance"] == overlay
    assert ingress["spec"]["tls"], "TLS on"
    assert {kind: doc for kind, doc in routed.items() if kind != "Ingress"} == plain


def documents(path: Path) -> dict[str, dict]:
    return documents_of(path.read_text())


def documents_of(text: str) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text) if doc}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_a_locked_down_deployment(project, rendered, overlay):
    _, expected = project
    docs = documents(rendered[overlay])
    assert set(docs) == expected["kinds"]
    assert all(doc["metadata"]["labels"]["app.kubernetes.io/instance"] == overlay for doc in docs.values())

    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    # Nothing promoted yet: the overlay's `images:` holds the all-zero placeholder digest.
    assert container["image"] == f"{expected['image']}@{ZERO_DIGEST}"
    assert pod["automountServiceAccountToken"] is False
    assert docs["ServiceAccount"]["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}

    selector = docs["Deployment"]["spec"]["selector"]["matchLabels"]
    labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for kind, match in (
        ("Service", docs["Service"]["spec"]["selector"]),
        ("PodDisruptionBudget", docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]),
        ("NetworkPolicy", docs["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"]),
    ):
        assert match.items() <= labels.items(), f"{kind} does not select the pods"
    assert selector.items() <= labels.items()
    assert (
        docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"]
        == docs["Deployment"]["metadata"]["name"]
    )
    egress = docs["NetworkPolicy"]["spec"]["egress"]
    if expected["remote"] == "none":  # nothing goes out: the prediction log is a local demo
        assert egress == []
    else:  # DNS and HTTPS only, to the prediction log's bucket
        assert {(p["port"], p["protocol"]) for rule in egress for p in rule["ports"]} == {
            (53, "UDP"),
            (53, "TCP"),
            (443, "TCP"),
        }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_creates_its_restricted_namespace_and_puts_everything_in_it(project, rendered, overlay):
    _, expected = project
    docs = list(yaml.safe_load_all(rendered[overlay].read_text()))
    (namespace,) = [doc for doc in docs if doc["kind"] == "Namespace"]
    name = expected["namespace"] + ("-staging" if overlay == "staging" else "")
    assert namespace["metadata"]["name"] == name
    assert "namespace" not in namespace["metadata"]  # cluster-scoped
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest"
    others = [doc for doc in docs if doc["kind"] != "Namespace"]
    assert len(others) == len(expected["kinds"]) - 1
    assert {doc["metadata"].get("namespace") for doc in others} == {name}


def test_overlays_differ_in_size(rendered):
    staging, production = (documents(rendered[o]) for o in OVERLAYS)
    for field in ("minReplicas", "maxReplicas"):
        assert (
            production["HorizontalPodAutoscaler"]["spec"][field]
            > staging["HorizontalPodAutoscaler"]["spec"][field]
        )
    for docs in (staging, production):
        assert (
            docs["PodDisruptionBudget"]["spec"]["minAvailable"]
            < docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_replicas_where_an_hpa_scales_the_deployment(project, rendered, overlay):
    """The HPA owns .spec.replicas: a manifest that sets it makes `kubectl apply --server-side`
    conflict with the HPA's field manager once it has scaled (kubernetes/kubernetes#94585), and
    Kubernetes' HPA docs say to remove it. Every Deployment an HPA targets has none."""
    docs = [doc for doc in yaml.safe_load_all(rendered[overlay].read_text()) if doc]
    targets = {
        doc["spec"]["scaleTargetRef"]["name"]
        for doc in docs
        if doc["kind"] == "HorizontalPodAutoscaler" and doc["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    }
    assert targets
    scaled = [doc for doc in docs if doc["kind"] == "Deployment" and doc["metadata"]["name"] in targets]
    assert len(scaled) == len(targets)
    assert all("replicas" not in doc["spec"] for doc in scaled)


def test_digest_pinned_image_starts_without_asking_the_registry(rendered):
    for overlay in OVERLAYS:
        (container,) = documents(rendered[overlay])["Deployment"]["spec"]["template"]["spec"]["containers"]
        assert "@sha256:" in container["image"] and container["imagePullPolicy"] == "IfNotPresent"


def test_rendered_manifests_pass_kubernetes_validate(rendered):
    result = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", *map(str, rendered.values())],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_checkov_finds_nothing_in_manifests_and_dockerfile(project, rendered):
    path, _ = project
    result = subprocess.run(
        [checkov_binary(), "--skip-download", "-o", "json",
         *(f"--file={file}" for file in rendered.values()), f"--file={path / 'Dockerfile'}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    frameworks = {report["check_type"] for report in reports}
    assert {"kubernetes", "dockerfile"} <= frameworks, frameworks
    failed = [
        (check["check_id"], check["file_path"], check["resource"])
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    passed = sum(report["summary"]["passed"] for report in reports)
    assert passed > 150  # the scan really looked at the resources
    skipped = {
        (Path(check["file_path"]).name, check["check_id"])
        for report in reports
        for check in report["results"]["skipped_checks"]
    }
    assert skipped == EXPECTED_SKIPS
    assert all(
        check.get("check_result", {}).get("suppress_comment", "").strip()
        for report in reports
        for check in report["results"]["skipped_checks"]
    )


def test_inline_skips_are_counted_and_have_reasons(project):
    path, _ = project
    found = set()
    for file in path.rglob("*"):
        if file.is_file() and ".git" not in file.parts:
            for line in file.read_text(errors="ignore").splitlines():
                match = re.search(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?", line)
                if match:
                    assert (match.group(2) or "").strip(), (
                        f"{file}: skip of {match.group(1)} without a reason"
                    )
                    found.add((file.name, match.group(1)))
    assert found == EXPECTED_SKIPS


def test_dockerfile_has_no_hadolint_findings(project):
    path, _ = project
    result = subprocess.run([str(BIN / "hadolint"), str(path / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_dockerfile_base_is_pinned_by_digest_for_each_python_version(tmp_path):
    """The first FROM is python:<python_version>-slim with its tag and an index digest, the stage
    `base`; the other stages start from it. Dependabot's docker updater reads FROM lines only (an
    ARG default is never updated), and `--build-context base=...` replaces that stage by name."""
    versions = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]
    digests = set()
    for version in versions:
        dockerfile = (bake(tmp_path / version, python_version=version) / "Dockerfile").read_text()
        froms = re.findall(r"^FROM\s+(.*?)\s*$", dockerfile, re.M | re.I)
        pinned = re.fullmatch(rf"python:{re.escape(version)}-slim@sha256:([0-9a-f]{{64}}) AS base", froms[0])
        assert pinned, froms[0]
        assert froms[1:] == ["base AS build", "base"]
        assert "ARG BASE_IMAGE" not in dockerfile and "${" not in "".join(froms)
        digests.add(pinned.group(1))
    assert len(digests) == len(versions), "each python_version has its own base digest"


def test_show_image_script_passes_shellcheck(project):
    path, _ = project
    result = subprocess.run(
        [str(BIN / "shellcheck"), str(path / "k8s/show-image.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


# --- the image by digest in kustomize's `images:` field: `kustomize edit set image` sets it -------


@pytest.fixture
def overlays(project, tmp_path) -> Path:
    """A copy of the project's k8s/ folder in git, that a test may change (the bake is shared)."""
    path, _ = project
    shutil.copytree(path / "k8s", tmp_path / "k8s")
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "--no-verify", "-m", "k8s")):
        subprocess.run(["git", *args], cwd=tmp_path, env=project_env(tmp_path), check=True)
    return tmp_path


def kustomize_set_image(cwd: Path, overlay: str, ref: str) -> subprocess.CompletedProcess[str]:
    """`kustomize edit set image REF` in k8s/overlays/<overlay>, as the promotion steps run it."""
    return subprocess.run(
        [str(require_kustomize()), "edit", "set", "image", ref],
        cwd=cwd / "k8s/overlays" / overlay,
        capture_output=True,
        text=True,
    )


def show_image(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["k8s/show-image.sh", *args], cwd=cwd, env=project_env(cwd), capture_output=True, text=True
    )


def deployment_image(cwd: Path, overlay: str) -> str:
    (container,) = documents_of(render(cwd, overlay))["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container["image"]


def changed_lines(cwd: Path) -> list[str]:
    """The lines `git diff` removes and adds in the work tree, without the file headers."""
    diff = subprocess.run(["git", "diff", "--unified=0"], cwd=cwd, capture_output=True, text=True, check=True)
    return [line for line in diff.stdout.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kustomize_set_image_changes_only_the_digest_line_and_show_reads_it(project, overlays, overlay):
    _, expected = project
    kustomization = overlays / "k8s/overlays" / overlay / "kustomization.yaml"
    before = kustomization.read_text()
    assert yaml.safe_load(before)["images"] == [{"name": expected["image"], "digest": ZERO_DIGEST}]
    # The file as baked is laid out exactly as kustomize writes it: setting what it already says
    # rewrites it byte for byte.
    placeholder = kustomize_set_image(overlays, overlay, f"{expected['image']}@{ZERO_DIGEST}")
    assert placeholder.returncode == 0, placeholder.stderr
    assert changed_lines(overlays) == []

    ref = f"{expected['image']}@{DIGEST}"
    result = kustomize_set_image(overlays, overlay, ref)
    assert result.returncode == 0, result.stderr
    # What a promotion pull request shows: one line, the digest; comments and the rest unchanged.
    assert changed_lines(overlays) == [f"-- digest: {ZERO_DIGEST}", f"+- digest: {DIGEST}"]
    images = yaml.safe_load(kustomization.read_text())["images"]
    assert images == [{"name": expected["image"], "digest": DIGEST}]
    assert set(images[0]) <= KUSTOMIZE_IMAGE_FIELDS

    assert deployment_image(overlays, overlay) == ref
    shown = show_image(overlays, f"k8s/overlays/{overlay}/")  # trailing slash as a shell completes it
    assert (shown.returncode, shown.stdout, shown.stderr) == (0, ref + "\n", "")
    # The other overlay is untouched.
    other = next(o for o in OVERLAYS if o != overlay)
    assert deployment_image(overlays, other) == f"{expected['image']}@{ZERO_DIGEST}"


def test_show_image_of_another_image_name(project, overlays):
    _, expected = project
    mirror = "registry.example.com:5000/mirror/model-server"
    result = kustomize_set_image(overlays, "staging", f"{expected['image']}={mirror}@{OTHER_DIGEST}")
    assert result.returncode == 0, result.stderr
    images = yaml.safe_load((overlays / "k8s/overlays/staging/kustomization.yaml").read_text())["images"]
    # `name` stays what the base Deployment says, so kustomize still finds the container.
    assert images == [{"name": expected["image"], "newName": mirror, "digest": OTHER_DIGEST}]
    assert deployment_image(overlays, "staging") == f"{mirror}@{OTHER_DIGEST}"
    shown = show_image(overlays, "k8s/overlays/staging")
    assert (shown.returncode, shown.stdout) == (0, f"{mirror}@{OTHER_DIGEST}\n")


def test_kustomize_takes_a_bad_reference_so_the_promotion_step_checks_it_first(project, overlays):
    """`kustomize edit set image` writes a short digest as given: the staging promotion step of
    release.yml refuses anything but <name>@sha256:<64 hex> before kustomize runs (the step is run
    here as written, in a copy of the project), and k8s/show-image.sh refuses such an overlay."""
    path, expected = project
    kustomization = overlays / "k8s/overlays/staging/kustomization.yaml"
    short = f"{expected['image']}@sha256:abc"
    assert kustomize_set_image(overlays, "staging", short).returncode == 0
    assert yaml.safe_load(kustomization.read_text())["images"][0]["digest"] == "sha256:abc"
    shown = show_image(overlays, "k8s/overlays/staging")
    assert shown.returncode == 2 and f"renders the server image '{short}', not <name>@sha256:" in shown.stderr
    subprocess.run(["git", "checkout", "-q", "."], cwd=overlays, check=True)

    workflow = yaml.safe_load((path / ".github/workflows/release.yml").read_text())
    (step,) = [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if step.get("name") == "Pin the image by digest in the staging overlay"
    ]

    def promote(ref: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],  # GitHub's bash
            cwd=overlays,
            env=project_env(overlays, IMAGE_REF=ref),
            capture_output=True,
            text=True,
        )

    for ref in (f"{expected['image']}:latest", short, f"{expected['image']}@{DIGEST} x", ""):
        result = promote(ref)
        assert result.returncode == 1, (ref, result.stdout, result.stderr)
        assert (
            f"::error title=Not an image by digest::'{ref}' is not <registry>/<name>@sha256:" in result.stdout
        )
        assert changed_lines(overlays) == []
    good = promote(f"{expected['image']}@{DIGEST}")
    assert good.returncode == 0, good.stdout + good.stderr
    assert changed_lines(overlays) == [f"-- digest: {ZERO_DIGEST}", f"+- digest: {DIGEST}"]


def test_show_image_rejects_bad_input(overlays):
    missing = show_image(overlays, "k8s/overlays/nowhere")
    assert missing.returncode == 2
    assert "k8s/overlays/nowhere has no kustomization.yaml" in missing.stderr
    for args in ((), ("k8s/overlays/staging", "k8s/overlays/production")):
        usage = show_image(overlays, *args)
        assert usage.returncode == 2 and "usage:" in usage.stderr, args


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_show_says_nothing_was_promoted_yet(overlays, overlay):
    result = show_image(overlays, f"k8s/overlays/{overlay}")
    assert result.returncode == 3
    assert result.stdout == ""
    assert f"nothing promoted to {overlay} yet" in result.stderr


# --- deploy=argocd: Argo CD Applications validated against Argo CD's own schema -----------------

ARGOCD_COMBOS = sorted(name for name, answers in SUPPORTED.items() if answers.get("deploy") == "argocd")


def argocd_validate(docs: list[dict]) -> tuple[int, list[dict]]:
    """Run tests/argocd/validate.mjs (@kubernetes-models/argo-cd, installed by `make install`)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: install Node.js (scripts/system-deps.sh does), then `make install`")
    result = subprocess.run(
        [node, str(ARGOCD_VALIDATOR)], input=json.dumps(docs), capture_output=True, text=True, timeout=60
    )
    assert result.returncode in (0, 1), result.stderr  # 2: validators not installed
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module", params=ARGOCD_COMBOS)
def argocd_project(request, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    answers = SUPPORTED[request.param]
    return bake(tmp_path_factory.mktemp(f"argocd-{request.param}"), **answers), answers


def test_there_is_an_argocd_combination():
    assert ARGOCD_COMBOS


def test_argocd_applications_validate_and_point_at_the_overlays(argocd_project):
    path, answers = argocd_project
    assert not (path / ".github/workflows/deploy.yml").exists()
    docs = [doc for doc in yaml.safe_load_all(kustomize(path / "k8s/argocd")) if doc]

    code, reports = argocd_validate(docs)
    assert code == 0, reports
    assert sorted((r["kind"], r["name"]) for r in reports) == sorted(
        (doc["kind"], doc["metadata"]["name"]) for doc in docs
    )
    assert all(r["errors"] == [] for r in reports)

    (project,) = [doc for doc in docs if doc["kind"] == "AppProject"]
    apps = {doc["spec"]["source"]["path"]: doc for doc in docs if doc["kind"] == "Application"}
    assert set(apps) == {f"k8s/overlays/{overlay}" for overlay in OVERLAYS}
    repo = f"https://github.com/{answers['github_owner']}/{path.name}.git"
    assert project["spec"]["sourceRepos"] == [repo]
    for overlay in OVERLAYS:
        app = apps[f"k8s/overlays/{overlay}"]
        spec = app["spec"]
        assert app["metadata"]["namespace"] == project["metadata"]["namespace"] == "argocd"
        assert spec["project"] == project["metadata"]["name"]
        assert spec["source"]["repoURL"] == repo
        assert spec["source"]["targetRevision"] == "main"
        # The Application's namespace is the one the overlay's own Namespace manifest creates.
        rendered = documents_of(render(path, overlay))
        namespace = rendered["Namespace"]["metadata"]["name"]
        assert spec["destination"]["namespace"] == namespace
        assert spec["destination"] in project["spec"]["destinations"]
        assert "CreateNamespace=true" not in spec["syncPolicy"].get("syncOptions", [])
        # Both environments sync automatically: merging the (reviewed) promotion PR is the deploy.
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        # The HPA's replica count is neither a difference nor undone by a sync (Argo CD's diffing docs).
        assert {"group": "apps", "kind": "Deployment", "name": "model-server",
                "jsonPointers": ["/spec/replicas"]} in spec["ignoreDifferences"]  # fmt: skip
        assert "RespectIgnoreDifferences=true" in spec["syncPolicy"]["syncOptions"]
        # The project lets the Application create exactly the namespaced kinds its overlay renders.
        allowed = {(kind["group"], kind["kind"]) for kind in project["spec"]["namespaceResourceWhitelist"]}
        rendered_kinds = {
            (doc["apiVersion"].rpartition("/")[0], doc["kind"])
            for doc in yaml.safe_load_all(render(path, overlay))
            if doc and doc["kind"] != "Namespace"
        }
        assert rendered_kinds == allowed
    # The only cluster-scoped object the project may create is the Namespace.
    assert project["spec"]["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]


def test_argocd_validator_rejects_broken_applications(argocd_project):
    path, _ = argocd_project
    app = yaml.safe_load((path / "k8s/argocd/staging.yaml").read_text())
    assert argocd_validate([app])[0] == 0

    no_destination = json.loads(json.dumps(app))
    del no_destination["spec"]["destination"]
    wrong_type = json.loads(json.dumps(app))
    wrong_type["spec"]["syncPolicy"]["automated"]["prune"] = "yes"
    no_repo = json.loads(json.dumps(app))
    no_repo["spec"]["source"]["repoURL"] = 42
    # A typo the schema lets through (the API server would drop the field: an app that never syncs).
    typo = json.loads(json.dumps(app))
    typo["spec"]["syncPolicy"]["automatd"] = typo["spec"]["syncPolicy"].pop("automated")
    code, reports = argocd_validate([no_destination, wrong_type, no_repo, typo, app])
    assert code == 1
    assert "must have required property destination" in " ".join(reports[0]["errors"])
    assert "automated/prune must be boolean" in " ".join(reports[1]["errors"])
    assert "source/repoURL must be string" in " ".join(reports[2]["errors"])
    assert reports[3]["errors"] == [
        "TS2353: Object literal may only specify known properties, "
        "and '\"automatd\"' does not exist in type 'ISyncPolicy'."
    ]
    assert reports[4]["errors"] == []
    # Not an Argo CD object at all.
    code, reports = argocd_validate([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}])
    assert code == 1 and "not an argoproj.io/v1alpha1 Application" in reports[0]["errors"][0]


def test_one_deploy_mode_per_project(project):
    """The deploy workflow pushes, or Argo CD pulls: never both (they would fight over the objects)."""
    path, expected = project
    assert (path / ".github/workflows/deploy.yml").exists() is (expected["deploy"] == "actions")
    assert (path / "k8s/argocd").exists() is (expected["deploy"] == "argocd")


@pytest.mark.parametrize("mode", ["actions", "argocd"])
def test_generated_make_k8s_render(tmp_path, mode):
    path = bake(tmp_path, deploy=mode)
    env = project_env(path)  # the pinned kubectl first on PATH
    result = subprocess.run(["make", "k8s-render"], cwd=path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = {p.name for p in (path / "build/k8s").iterdir()}
    assert rendered == {"staging.yaml", "production.yaml"} | ({"argocd.yaml"} if mode == "argocd" else set())
    for overlay in OVERLAYS:
        assert f"image in {overlay}: none promoted yet" in result.stdout
    assert "error" not in result.stdout + result.stderr  # a fresh project's state, not a failure
    set_image(path, "staging", f"ghcr.io/jane-doe/{path.name}@{DIGEST}")
    result = subprocess.run(["make", "k8s-render"], cwd=path, env=env, capture_output=True, text=True)
    assert f"image in staging: ghcr.io/jane-doe/{path.name}@{DIGEST}\n" in result.stdout
    assert f"image: ghcr.io/jane-doe/{path.name}@{DIGEST}" in (path / "build/k8s/staging.yaml").read_text()


# remote: (its DVC URL, the log's URL in the overlays, the ServiceAccount's identity annotation)
LOG_WIRING = {
    "s3": ("s3://ml-bucket/dvc", "s3://ml-bucket/prediction-logs", "eks.amazonaws.com/role-arn"),
    "gcs": ("gs://ml-bucket/dvc", "gs://ml-bucket/prediction-logs", "iam.gke.io/gcp-service-account"),
    "azure": ("azure://box/dvc", "az://box/prediction-logs", "azure.workload.identity/client-id"),
}


@pytest.mark.parametrize("remote", ["none", "s3", "gcs", "azure"])
def test_prediction_log_goes_to_the_remotes_storage_with_the_pods_identity(tmp_path, remote):
    """Each overlay points PREDICTION_LOG at the DVC remote's bucket (a prefix per environment)
    and gives the pod its cloud identity; without a cloud remote, a demo folder on an emptyDir.
    IMAGE_DIGEST is the overlay's `images:` digest, copied by kustomize."""
    answers = {"dvc_remote": remote, "dvc_remote_url": LOG_WIRING[remote][0]} if remote != "none" else {}
    project = bake(tmp_path, monitoring="none", **answers)
    for overlay in OVERLAYS:
        docs = documents_of(render(project, overlay))
        pod = docs["Deployment"]["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        env = {item["name"]: item["value"] for item in container["env"]}
        assert container["image"].endswith("@" + env["IMAGE_DIGEST"])
        annotations = docs["ServiceAccount"]["metadata"].get("annotations", {})
        if remote == "none":
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts[env["PREDICTION_LOG"]] == "prediction-logs" and not annotations
            continue
        _, url, identity = LOG_WIRING[remote]
        assert env["PREDICTION_LOG"] == f"{url}/{overlay}"
        assert set(annotations) == {identity}
        assert (pod["metadata"]["labels"].get("azure.workload.identity/use") == "true") == (remote == "azure")
