"""A local stand-in for the part of GitHub's REST API that the generated `make github-setup` uses.

Every request is checked against GitHub's own OpenAPI description (npm `@octokit/openapi`,
pinned in tests/github-api/package.json, installed by `make install`): the path and method must
be an operation GitHub documents, query parameters must be documented for it, and a JSON body
must validate against the operation's request schema. Each answer's status must be one GitHub
documents for the operation (or 404, which GitHub's REST docs say any request may get for a
resource that does not exist or that the caller may not see).

The state behaves as GitHub documents: an environment is created by PUT; a deployment branch
policy answers 303 when the same pattern exists and 404 when the environment does not use
custom policies; a variable is created by POST (201) and updated by PATCH (204); a secret PUT
answers 201 when new and 204 when replaced; rulesets are listed without their rules and read
one by one by id.

gh reaches it as an HTTP proxy: with GH_HOST=github.localhost the GitHub CLI sends REST calls
to http://api.github.localhost/ (the name gh reserves for local development), and HTTP_PROXY
points those at this server. Nothing else about gh changes, so the test runs the real gh.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

TEMPLATE = Path(__file__).resolve().parents[1]
OPENAPI = TEMPLATE / ".node-tools-github-api/node_modules/@octokit/openapi/generated/api.github.com.json"
SPEC_URI = "urn:github-openapi"


class OpenAPI:
    """GitHub's REST API description: find an operation, check a request and a status."""

    def __init__(self, path: Path = OPENAPI):
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: run `make install` (npm @octokit/openapi)")
        self.spec = json.loads(path.read_text())
        # Templates with fewer parameters first: /secrets/public-key before /secrets/{secret_name}.
        templates = sorted(self.spec["paths"], key=lambda template: template.count("{"))
        self.patterns = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", t) + "$"), t) for t in templates]
        # OpenAPI 3.0 schemas are JSON Schema draft 7 plus `nullable`, not honoured here: a null is
        # refused, which is stricter than GitHub, never looser (github-setup sends none).
        resource = Resource.from_contents(self.spec, default_specification=DRAFT7)
        self.registry = Registry().with_resource(SPEC_URI, resource)

    def template(self, path: str) -> str | None:
        return next((template for pattern, template in self.patterns if pattern.match(path)), None)

    def check_request(self, method: str, path: str, query: dict, body: bytes) -> list[str]:
        template = self.template(path)
        if template is None or method.lower() not in self.spec["paths"][template]:
            return [f"{method} {path}: no such operation in GitHub's REST API"]
        operation = self.spec["paths"][template][method.lower()]
        errors = []
        documented = {self._parameter(p)["name"] for p in operation.get("parameters", [])}
        errors += [
            f"{method} {path}: undocumented query parameter {name}"
            for name in query
            if name not in documented
        ]
        request_body = operation.get("requestBody")
        if not body:
            if request_body and request_body.get("required"):
                errors.append(f"{method} {path}: body required")
            return errors
        if not request_body:
            return [*errors, f"{method} {path}: this operation takes no body"]
        pointer = "/".join(
            [
                "#",
                "paths",
                _escape(template),
                method.lower(),
                "requestBody",
                "content",
                "application~1json",
                "schema",
            ]
        )
        validator = jsonschema.Draft7Validator({"$ref": SPEC_URI + pointer}, registry=self.registry)
        try:
            document = json.loads(body)
        except ValueError:
            return [*errors, f"{method} {path}: body is not JSON"]
        errors += [f"{method} {path}: {error.message}" for error in validator.iter_errors(document)]
        return errors

    def documented_status(self, method: str, path: str, status: int) -> bool:
        operation = self.spec["paths"][self.template(path)][method.lower()]
        return status == 404 or str(status) in operation["responses"]

    def _parameter(self, parameter: dict) -> dict:
        if "$ref" in parameter:
            return self.spec["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        return parameter


def _escape(template: str) -> str:
    return template.replace("~", "~0").replace("/", "~1")


@dataclass
class Repository:
    """What GitHub holds for one repository, as far as github-setup touches it."""

    full_name: str
    default_branch: str = "main"
    environments: dict[str, dict] = field(default_factory=dict)
    branch_policies: dict[str, list[dict]] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # scope ("" = repo) -> name
    rulesets: dict[int, dict] = field(default_factory=dict)
    workflow_permissions: dict = field(
        default_factory=lambda: {
            "default_workflow_permissions": "write",
            "can_approve_pull_request_reviews": False,
        }
    )


# A Curve25519 public key as GitHub serves it (base64 of 32 bytes); gh seals secrets with it.
PUBLIC_KEY = {"key_id": "568250167242549743", "key": base64.b64encode(bytes(range(32))).decode()}
NOW = "2026-01-01T00:00:00Z"


class GitHubStandIn:
    """The server, its repository state, and every request it saw (with any schema error)."""

    def __init__(self, repository: Repository, spec: OpenAPI):
        self.repo = repository
        self.spec = spec
        self.requests: list[tuple[str, str, dict | None]] = []
        self.errors: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def writes(self) -> list[tuple[str, str, dict | None]]:
        return [request for request in self.requests if request[0] != "GET"]

    def __enter__(self) -> GitHubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                url = urlsplit(self.path)  # absolute-form: gh talks to us as its proxy
                body = self._body()
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                standin.errors += standin.spec.check_request(self.command, url.path, query, body)
                document = json.loads(body) if body else None
                standin.requests.append((self.command, url.path, document))
                status, answer = standin.answer(self.command, url.path, document)
                if standin.spec.template(url.path) and not standin.spec.documented_status(
                    self.command, url.path, status
                ):
                    standin.errors.append(f"stand-in answered {status} to {self.command} {url.path}")
                payload = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def answer(self, method: str, path: str, body: dict | None) -> tuple[int, dict | list | None]:
        """GitHub's documented answer to one request, applied to the repository state."""
        repo = self.repo
        prefix = f"/repos/{repo.full_name}"
        if not path.lower().startswith(prefix.lower()):
            return 404, {"message": "Not Found"}
        rest = path[len(prefix) :]
        not_found = (404, {"message": "Not Found"})
        if rest == "" and method == "GET":
            owner = repo.full_name.split("/")[0]
            return 200, {
                "id": 1,
                "name": repo.full_name.split("/")[1],
                "full_name": repo.full_name,
                "owner": {"login": owner},
                "default_branch": repo.default_branch,
                "permissions": {"admin": True, "push": True, "pull": True},
            }
        if match := re.fullmatch(r"/environments/([^/]+)", rest):
            name = match[1]
            if method == "PUT":
                repo.environments[name] = {
                    "id": len(repo.environments) + 1,
                    "name": name,
                    "protection_rules": [],
                    "deployment_branch_policy": (body or {}).get("deployment_branch_policy"),
                }
                repo.branch_policies.setdefault(name, [])
            return (200, repo.environments[name]) if name in repo.environments else not_found
        if match := re.fullmatch(r"/environments/([^/]+)/deployment-branch-policies", rest):
            env = repo.environments.get(match[1])
            if env is None:
                return not_found
            policies = repo.branch_policies[match[1]]
            if method == "GET":
                return 200, {"total_count": len(policies), "branch_policies": policies}
            if not (env["deployment_branch_policy"] or {}).get("custom_branch_policies"):
                return not_found  # documented: custom_branch_policies is false
            policy = {"id": len(policies) + 1, "name": body["name"], "type": body.get("type", "branch")}
            if any((p["name"], p["type"]) == (policy["name"], policy["type"]) for p in policies):
                return 303, None
            policies.append(policy)
            return 200, policy
        if match := re.fullmatch(r"(?:/environments/([^/]+))?/(?:actions/)?secrets/([^/]+)", rest):
            scope, name = match[1] or "", match[2]
            if scope and scope not in repo.environments:
                return not_found
            stored = repo.secrets.setdefault(scope, {})
            if name == "public-key":
                return 200, PUBLIC_KEY
            if method == "PUT":
                existed = name in stored
                stored[name] = body["encrypted_value"]
                return (204, None) if existed else (201, {})  # 201's body: an empty object
            return (
                (200, {"name": name, "created_at": NOW, "updated_at": NOW}) if name in stored else not_found
            )
        if rest == "/actions/variables" and method == "POST":
            repo.variables[body["name"]] = body["value"]
            return 201, {}
        if match := re.fullmatch(r"/actions/variables/([^/]+)", rest):
            name = match[1]
            if name not in repo.variables:
                return not_found
            if method == "PATCH":
                repo.variables[name] = body["value"]
                return 204, None
            return 200, {"name": name, "value": repo.variables[name], "created_at": NOW, "updated_at": NOW}
        if rest == "/rulesets":
            if method == "GET":
                return 200, [
                    {"id": i, "name": r["name"], "source_type": "Repository"}
                    for i, r in repo.rulesets.items()
                ]
            ruleset_id = len(repo.rulesets) + 1
            repo.rulesets[ruleset_id] = {
                **body,
                "id": ruleset_id,
                "source_type": "Repository",
                "bypass_actors": [],
            }
            return 201, repo.rulesets[ruleset_id]
        if match := re.fullmatch(r"/rulesets/(\d+)", rest):
            ruleset_id = int(match[1])
            if ruleset_id not in repo.rulesets:
                return not_found
            if method == "PUT":
                repo.rulesets[ruleset_id].update(body)
            return 200, repo.rulesets[ruleset_id]
        if rest == "/actions/permissions/workflow":
            if method == "PUT":
                repo.workflow_permissions.update(body)
                return 204, None
            return 200, repo.workflow_permissions
        return not_found
