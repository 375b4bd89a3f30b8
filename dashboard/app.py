"""The dashboard's HTTP server: pages, static assets, the JSON API and the admin actions.

- `GET /`, `/studies/{id}`, `/studies/{id}/trials/{n}`: the pages (an unknown study or
  trial is a 404 page; an unreachable server or a rejected token, a page that says so);
- `GET /api/session`: the server, the caller's role (`admin` or `viewer`, from
  GetCaller), the action token;
- `GET /api/studies`: every study with its counts and best value;
- `GET /api/studies/{id}`: spec, state, counts, best trial, and a `version` that moves
  when the study's trials change;
- `GET /api/studies/{id}/trials?state=&filter=&sort=&page=&page_size=`: one page of the
  trials table (`table.py`);
- `GET /api/studies/{id}/charts`: the charts' data and parameter importance, and for a
  study with several objectives the Pareto front view's (`charts.py`);
- `GET /api/studies/{id}/trials/{n}`: one trial, read now, with its retry chain;
- `GET /api/studies/{id}/export.csv`, `export.json`: the trials (the table's state,
  filter and sort apply);
- `POST /api/studies/{id}/stop`, `/resume`, `/enqueue`: the admin actions, passed on to
  the server with the dashboard's token (the server checks the role). `/enqueue` takes
  `{"params": {...}, "choices": {name: index}}`: `choices` (optional) names a categorical
  or discrete value by its index in the spec, so it keeps its type (`with_choices`).

Errors are JSON `{"error": kind, "message": one line}`: 400 a bad query, 401 a token the
server rejects, 403 a role too weak, 404 no such study or trial, 503 the server cannot be
reached. Actions are POSTs that must carry the action token in `X-Asktell-Action-Token`
(a cross-site page cannot read it, and a header other than the simple ones makes the
browser ask first, which this server never allows), and an `Origin`, when sent, must be
this server's own.
"""

from __future__ import annotations

import html
import json
import logging
import mimetypes
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import grpc

from asktell.client import (
    AsktellError,
    Client,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    StudyInfo,
    Trial,
    UnauthenticatedError,
    UnavailableError,
)
from asktell.dashboard import charts, table
from asktell.dashboard.cache import Studies, StudyTrials
from asktell.v1.spec import constraints_of, is_feasible, objectives_of

log = logging.getLogger("asktell.dashboard")

ACTION_HEADER = "X-Asktell-Action-Token"
ROLE_SECONDS = 30.0  # how long a probed role is trusted
MAX_BODY = 64 * 1024
_STUDY = r"(?P<study>[A-Za-z0-9][A-Za-z0-9._-]{0,127})"
_STATIC = resources.files("asktell.dashboard") / "static"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
Json = dict[str, Any]


class HttpError(Exception):
    """An answer other than 200: its status, a kind for the browser, and one line."""

    def __init__(self, status: HTTPStatus, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


def http_error(exc: AsktellError, target: str) -> HttpError:
    """What the browser is told of a client error: a status and one line, no trace."""
    text = str(exc).partition(": ")[2] or str(exc)
    if isinstance(exc, NotFoundError):
        return HttpError(HTTPStatus.NOT_FOUND, "not_found", text)
    if isinstance(exc, UnauthenticatedError):
        return HttpError(
            HTTPStatus.UNAUTHORIZED,
            "unauthenticated",
            f"the server at {target} rejected the dashboard's token ({text}): "
            "it is missing, wrong or expired; restart the dashboard with a valid --token-file",
        )
    if isinstance(exc, PermissionDeniedError):
        return HttpError(HTTPStatus.FORBIDDEN, "permission_denied", text)
    if isinstance(exc, UnavailableError | DeadlineExceededError):
        return HttpError(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "unavailable",
            f"the asktell server at {target} cannot be reached ({text})",
        )
    if isinstance(exc, InvalidArgumentError):
        return HttpError(HTTPStatus.BAD_REQUEST, "invalid_argument", text)
    if isinstance(exc, FailedPreconditionError):
        return HttpError(HTTPStatus.CONFLICT, "failed_precondition", text)
    return HttpError(HTTPStatus.BAD_GATEWAY, "server_error", text)


def _epoch(info_time: Any) -> float | None:
    return info_time.timestamp() if info_time is not None else None


def _goal_maximize(spec: Mapping[str, Any]) -> bool:
    objective = spec.get("objective") or (spec.get("objectives") or [{}])[0]
    return bool(objective.get("goal") == "maximize")


def _parameters(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    parameters = spec.get("parameters") or {}
    return {str(name): dict(p) for name, p in parameters.items()}


def study_summary(info: StudyInfo, best: Trial | None) -> Json:
    """A study as the studies page lists it."""
    spec = info.spec
    counts = info.counts
    algorithm = (spec.get("algorithm") or {}).get("name", "")
    return {
        "id": info.id,
        "state": info.state,
        "algorithm": algorithm,
        "goal": "maximize" if _goal_maximize(spec) else "minimize",
        "metric": (spec.get("objective") or (spec.get("objectives") or [{}])[0]).get("metric", ""),
        "counts": {
            "running": counts.running,
            "complete": counts.complete,
            "failed": counts.failed,
            "pruned": counts.pruned,
            "queued": counts.queued,
        },
        "trials": counts.running + counts.complete + counts.failed + counts.pruned,
        "max_trials": spec.get("max_trials") or None,
        "best_value": table.row(best, time.time())["value"] if best is not None else None,
        "best_number": best.number if best is not None else None,
        "create_time": _epoch(info.create_time),
    }


def with_choices(
    params: Mapping[str, Any], choices: Any, parameters: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """`params` with each parameter named in `choices` set to its listed value at that index.

    JSON cannot tell 1 from 1.0, so the trial page's form names a categorical or discrete
    value by its index in the spec, and the value goes to the server with its own type
    (True stays a bool, 32 an int, "1" a string). Raises HttpError naming a bad index.
    """
    if choices is None:
        return dict(params)
    if not isinstance(choices, dict):
        raise HttpError(HTTPStatus.BAD_REQUEST, "invalid_argument", "choices: expected an object")
    typed = dict(params)
    for name, index in choices.items():
        listed = (parameters.get(name) or {}).get("values")
        if not isinstance(listed, list):
            raise HttpError(
                HTTPStatus.BAD_REQUEST,
                "invalid_argument",
                f"choices.{name}: not a categorical or discrete parameter of the study",
            )
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(listed):
            raise HttpError(
                HTTPStatus.BAD_REQUEST,
                "invalid_argument",
                f"choices.{name}: expected an index from 0 to {len(listed) - 1}, got {index!r}",
            )
        typed[name] = listed[index]
    return typed


@dataclass
class Dashboard:
    """What the HTTP handlers share: the client, the caches, the role and the action token."""

    client: Client
    target: str
    min_interval: float = 1.0
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.studies = Studies(self.client, self.min_interval)
        self.action_token = secrets.token_urlsafe(32)
        self._role: tuple[float, str] | None = None
        self._role_lock = threading.Lock()

    def role(self) -> str:
        """ "admin" when the dashboard's token may stop studies and enqueue, else "viewer".

        Asked of the server with GetCaller (`Client.caller`): an admin token, or a server
        that checks no tokens, is "admin"; a worker or viewer token is "viewer". Asked
        again every ROLE_SECONDS, so a token's new role shows without a restart. A server
        older than GetCaller (UNIMPLEMENTED) is probed instead with a StopStudy naming no
        study, refused with PERMISSION_DENIED below admin (the role check comes first) and
        with INVALID_ARGUMENT for an admin, which changes nothing either way.
        """
        with self._role_lock:
            now = time.monotonic()
            if self._role is not None and now - self._role[0] < ROLE_SECONDS:
                return self._role[1]
            try:
                role = "admin" if self.client.caller() in ("admin", "none") else "viewer"
            except AsktellError as exc:
                if exc.code != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                role = self._probed_role()
            self._role = (now, role)
            return role

    def _probed_role(self) -> str:
        try:
            self.client.stop_study("")
        except PermissionDeniedError:
            return "viewer"
        except InvalidArgumentError:
            return "admin"
        return "admin"  # not reached: the name is invalid

    # ------------------------------------------------------------ the API
    def session(self) -> Json:
        return {"server": self.target, "role": self.role(), "action_token": self.action_token}

    def list_studies(self) -> Json:
        return {"studies": [study_summary(info, best) for info, best in self.studies.list()]}

    def _cache(self, study: str) -> StudyTrials:
        return self.studies.refreshed(study)

    def study(self, study: str) -> Json:
        cache = self._cache(study)
        info = cache.info
        assert info is not None
        trials = cache.trials()
        maximize = _goal_maximize(info.spec)
        complete = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
        if constraints_of(info.spec):  # the best is a feasible trial (none while none is)
            complete = [t for t in complete if is_feasible(info.spec, t.values)]
        best = None
        if complete:
            best = (max if maximize else min)(complete, key=lambda t: t.value or 0.0)
        summary = study_summary(info, best)
        summary.update(
            constrained=bool(constraints_of(info.spec)),
            spec=info.spec,
            seed=info.seed,
            version=cache.version,
            parameters=list(_parameters(info.spec)),
            attrs=sorted({name for t in trials for name in t.attrs}),
            workers=sorted({t.worker_id for t in trials if t.worker_id}),
            last_activity=max(
                (x for t in trials for x in (_epoch(t.create_time), _epoch(t.end_time)) if x),
                default=None,
            ),
        )
        return summary

    def trials_page(self, study: str, args: Mapping[str, str]) -> Json:
        query = table.Query.parse(args)
        cache = self._cache(study)
        answer = query.answer(cache.trials(), self.clock())
        answer["version"] = cache.version
        return answer

    def charts(self, study: str) -> Json:
        cache = self._cache(study)
        assert cache.info is not None
        spec = cache.info.spec
        trials = cache.trials()
        pareto = None
        if len(objectives_of(spec)) > 1:
            best = self.client.get_best_trials(study, 0) if charts.asks_server(trials) else None
            pareto = charts.pareto_data(trials, spec, best)
        data = charts.chart_data(
            trials, _parameters(spec), _goal_maximize(spec), pareto=pareto, spec=spec
        )
        data["version"] = cache.version
        data["goal"] = "maximize" if _goal_maximize(cache.info.spec) else "minimize"
        data["parameters"] = _parameters(cache.info.spec)
        return data

    def trial(self, study: str, number: int) -> Json:
        trial = self.client.get_trial(study, number)
        cache = self._cache(study)
        known = {t.number: t for t in cache.trials()}
        known[trial.number] = trial
        chain = [trial]
        while chain[0].retry_of is not None and chain[0].retry_of in known:
            chain.insert(0, known[chain[0].retry_of])
        retried = {t.retry_of: t for t in known.values() if t.retry_of is not None}
        while chain[-1].number in retried and len(chain) < 100:
            chain.append(retried[chain[-1].number])
        now = self.clock()
        item = table.row(trial, now)
        item["measurements"] = [[s, v] for s, v in trial.measurements]
        item["retry_chain"] = [table.row(t, now) for t in chain]
        assert cache.info is not None
        item["goal"] = "maximize" if _goal_maximize(cache.info.spec) else "minimize"
        item["study_state"] = cache.info.state
        return item

    def export(self, study: str, kind: str, args: Mapping[str, str]) -> tuple[str, str]:
        query = table.Query.parse({**args, "page": "1", "page_size": "1"})
        cache = self._cache(study)
        assert cache.info is not None
        now = self.clock()
        selected = query.select(cache.trials(), now)
        if kind == "json":
            return table.to_json(selected, now), "application/json"
        return table.to_csv(selected, list(_parameters(cache.info.spec)), now), "text/csv"

    def act(self, study: str, action: str, body: Json) -> Json:
        if action == "stop":
            self.client.stop_study(study)
        elif action == "resume":
            self.client.resume_study(study)
        else:
            params = body.get("params")
            if not isinstance(params, dict):
                raise HttpError(
                    HTTPStatus.BAD_REQUEST, "invalid_argument", "params: expected an object"
                )
            cache = self._cache(study)
            assert cache.info is not None
            params = with_choices(params, body.get("choices"), _parameters(cache.info.spec))
            return {"queued": self.client.enqueue_trials(study, params)}
        self.studies.study(study).refresh(force=True)
        return {"ok": True}


# ------------------------------------------------------------------ pages
def _asset(path: str) -> bytes:
    return (_STATIC / path).read_bytes()


def render_page(page: str, title: str, **data: str) -> bytes:
    """The page shell: the page's module and its data attributes."""
    template = _asset("page.html").decode()
    attributes = " ".join(f'data-{k}="{html.escape(v)}"' for k, v in data.items())
    return (
        template.replace("{{title}}", html.escape(title))
        .replace("{{page}}", page)
        .replace("{{data}}", attributes)
        .encode()
    )


def render_error(error: HttpError) -> bytes:
    template = _asset("error.html").decode()
    heading = {
        "not_found": "Not found",
        "unavailable": "The asktell server cannot be reached",
        "unauthenticated": "The server rejected the dashboard's token",
        "permission_denied": "Not allowed",
    }.get(error.kind, "Something went wrong")
    return (
        template.replace("{{status}}", str(int(error.status)))
        .replace("{{heading}}", html.escape(heading))
        .replace("{{message}}", html.escape(error.message))
        .encode()
    )


_ROUTES_GET: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/$"), "studies_page"),
    (re.compile(rf"^/studies/{_STUDY}$"), "study_page"),
    (re.compile(rf"^/studies/{_STUDY}/trials/(?P<number>[0-9]{{1,18}})$"), "trial_page"),
    (re.compile(r"^/api/session$"), "api_session"),
    (re.compile(r"^/api/studies$"), "api_studies"),
    (re.compile(rf"^/api/studies/{_STUDY}$"), "api_study"),
    (re.compile(rf"^/api/studies/{_STUDY}/trials$"), "api_trials"),
    (re.compile(rf"^/api/studies/{_STUDY}/charts$"), "api_charts"),
    (re.compile(rf"^/api/studies/{_STUDY}/trials/(?P<number>[0-9]{{1,18}})$"), "api_trial"),
    (re.compile(rf"^/api/studies/{_STUDY}/export\.(?P<kind>csv|json)$"), "api_export"),
    (re.compile(r"^/static/(?P<path>[A-Za-z0-9_./-]+)$"), "static"),
]
_ROUTE_POST = re.compile(rf"^/api/studies/{_STUDY}/(?P<action>stop|resume|enqueue)$")


class Handler(BaseHTTPRequestHandler):
    """One request; the shared state is `dashboard` (set by `make_server`)."""

    dashboard: Dashboard
    server_version = "asktell-dashboard"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # ------------------------------------------------------------ answering
    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**_SECURITY_HEADERS, **headers}.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200) -> None:
        body = json.dumps(data, allow_nan=False).encode()
        self._send(status, body, "application/json", Cache_Control="no-store")

    def _api_error(self, error: HttpError) -> None:
        self._json({"error": error.kind, "message": error.message}, int(error.status))

    def _page_error(self, error: HttpError) -> None:
        body = render_error(error)
        self._send(int(error.status), body, "text/html; charset=utf-8", Cache_Control="no-store")

    # ------------------------------------------------------------ dispatch
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        args = dict(parse_qsl(url.query))
        api = url.path.startswith("/api/")
        try:
            for pattern, name in _ROUTES_GET:
                match = pattern.match(url.path)
                if match:
                    getattr(self, name)(args=args, **match.groupdict())
                    return
            raise HttpError(HTTPStatus.NOT_FOUND, "not_found", f"no page {url.path}")
        except HttpError as error:
            (self._api_error if api else self._page_error)(error)
        except table.FilterError as exc:
            self._api_error(HttpError(HTTPStatus.BAD_REQUEST, "invalid_argument", str(exc)))
        except AsktellError as exc:
            (self._api_error if api else self._page_error)(http_error(exc, self.dashboard.target))

    do_HEAD = do_GET

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        try:
            match = _ROUTE_POST.match(url.path)
            if match is None:
                raise HttpError(HTTPStatus.NOT_FOUND, "not_found", f"no action {url.path}")
            self._check_action_request()
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large", "body too large")
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                raise HttpError(
                    HTTPStatus.BAD_REQUEST, "invalid_argument", "the body is not JSON"
                ) from None
            if not isinstance(body, dict):
                raise HttpError(HTTPStatus.BAD_REQUEST, "invalid_argument", "expected an object")
            self._json(self.dashboard.act(match["study"], match["action"], body))
        except HttpError as error:
            self._api_error(error)
        except AsktellError as exc:
            self._api_error(http_error(exc, self.dashboard.target))

    def _check_action_request(self) -> None:
        """Refuses a request another site's page could have sent (see the module docstring)."""
        origin = self.headers.get("Origin")
        host = self.headers.get("Host", "")
        if origin is not None and urlsplit(origin).netloc != host:
            raise HttpError(
                HTTPStatus.FORBIDDEN, "cross_site", f"Origin {origin} is not this dashboard"
            )
        token = self.headers.get(ACTION_HEADER, "")
        if not secrets.compare_digest(token.encode(), self.dashboard.action_token.encode()):
            raise HttpError(
                HTTPStatus.FORBIDDEN,
                "cross_site",
                f"missing or wrong {ACTION_HEADER}: reload the page",
            )

    # ------------------------------------------------------------ pages
    def _html(self, body: bytes) -> None:
        self._send(200, body, "text/html; charset=utf-8", Cache_Control="no-store")

    def studies_page(self, args: Mapping[str, str]) -> None:
        self.dashboard.role()  # a rejected token or a server away: its page, now
        self._html(render_page("studies", "Studies", server=self.dashboard.target))

    def study_page(self, args: Mapping[str, str], study: str) -> None:
        self.dashboard.studies.refreshed(study)
        self._html(render_page("study", study, study=study, server=self.dashboard.target))

    def trial_page(self, args: Mapping[str, str], study: str, number: str) -> None:
        self.dashboard.client.get_trial(study, int(number))
        self._html(
            render_page(
                "trial",
                f"{study} #{number}",
                study=study,
                trial=number,
                server=self.dashboard.target,
            )
        )

    def static(self, args: Mapping[str, str], path: str) -> None:
        if ".." in path.split("/") or path.endswith(".html"):
            raise HttpError(HTTPStatus.NOT_FOUND, "not_found", f"no file {path}")
        asset = _STATIC / path
        if not asset.is_file():
            raise HttpError(HTTPStatus.NOT_FOUND, "not_found", f"no file {path}")
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind == "application/javascript":
            kind += "; charset=utf-8"
        self._send(200, asset.read_bytes(), kind, Cache_Control="max-age=3600")

    # ------------------------------------------------------------ API
    def api_session(self, args: Mapping[str, str]) -> None:
        self._json(self.dashboard.session())

    def api_studies(self, args: Mapping[str, str]) -> None:
        self._json(self.dashboard.list_studies())

    def api_study(self, args: Mapping[str, str], study: str) -> None:
        self._json(self.dashboard.study(study))

    def api_trials(self, args: Mapping[str, str], study: str) -> None:
        self._json(self.dashboard.trials_page(study, args))

    def api_charts(self, args: Mapping[str, str], study: str) -> None:
        self._json(self.dashboard.charts(study))

    def api_trial(self, args: Mapping[str, str], study: str, number: str) -> None:
        self._json(self.dashboard.trial(study, int(number)))

    def api_export(self, args: Mapping[str, str], study: str, kind: str) -> None:
        body, content_type = self.dashboard.export(study, kind, args)
        name = quote(f"{study}-trials.{kind}")
        self._send(
            200,
            body.encode(),
            f"{content_type}; charset=utf-8",
            Content_Disposition=f"attachment; filename*=UTF-8''{name}",
            Cache_Control="no-store",
        )


def make_server(dashboard: Dashboard, host: str, port: int) -> ThreadingHTTPServer:
    """The HTTP server (not yet serving) on host:port; port 0 picks a free one."""
    handler = type("DashboardHandler", (Handler,), {"dashboard": dashboard})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
