"""The FastAPI application of ``seewhy serve`` (see :mod:`seewhy.site`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seewhy._version import __version__
from seewhy.evaluation.analysis import FailureAnalysis, analyze_run
from seewhy.evaluation.model import ItemRecord, RunRecord
from seewhy.evaluation.store import REPORT_SORTS, ReportSummary, Store, StoreError
from seewhy.report.model import Report
from seewhy.site import pages

PAGE_SIZE = 100
"""Rows of the release list and items of a run per page."""
MAX_COMPARED = 12
"""Releases one comparison shows at most."""
CACHE_SIZE = 64
"""Rendered report pages kept in memory (a report id names fixed content)."""
CACHE_CHARS = 64 * 1024 * 1024
"""Characters of rendered pages each cache holds at most."""


class ReportList(BaseModel):
    """A page of stored reports (``GET /api/reports``)."""

    total: int = Field(description="reports matching the filters")
    offset: int
    limit: int
    reports: list[ReportSummary]


class RunSummary(BaseModel):
    """One evaluation run in the list of runs."""

    run_id: str
    task: str
    model: str
    backend: str
    created_at: str
    n_items: int
    n_errors: int
    metric: str | None
    value: float | None
    ci_low: float | None
    ci_high: float | None


class RunDetail(BaseModel):
    """One run with its failure analysis (``GET /api/runs/{run_id}``)."""

    run: RunRecord
    analysis: FailureAnalysis


class ItemList(BaseModel):
    """A page of one run's items (``GET /api/runs/{run_id}/items``)."""

    run_id: str
    show: str
    total: int
    offset: int
    limit: int
    items: list[ItemRecord]


class ComparisonNotFound(BaseModel):
    """Why a request found nothing."""

    detail: str


class _Headers:
    """Pure ASGI middleware: security headers on every response."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-resource-policy", b"same-origin"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.HEADERS if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, wrapped)


class _Stores:
    """One read-only connection per worker thread (sqlite3 connections are not shared)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Store] = []

    def get(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = Store(self.path, read_only=True)
            self._local.store = store
            with self._lock:
                self._all.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            for store in self._all:
                store.close()
            self._all.clear()


class _Cache:
    """A small thread-safe LRU of rendered pages, bounded in count and in characters."""

    def __init__(self, size: int, chars: int = CACHE_CHARS) -> None:
        self.size = size
        self.chars = chars
        self._held = 0
        self._data: OrderedDict[Any, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], str | None]) -> str | None:
        """The page under ``key``, made (and kept, unless None) when missing."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()
        if value is None or len(value) > self.chars:
            return value
        with self._lock:
            if key not in self._data:
                self._data[key] = value
                self._held += len(value)
            while len(self._data) > self.size or self._held > self.chars:
                _, dropped = self._data.popitem(last=False)
                self._held -= len(dropped)
        return value


def _filters(
    openness: str | None,
    license_state: str | None,
    safety: str | None,
    behaviour: str | None,
    mof: str | None,
    q: str,
) -> dict[str, Any]:
    return {
        "openness": openness or None,
        "license_state": license_state or None,
        "load_safety": safety or None,
        "safety_behaviour": behaviour or None,
        "mof_class": mof or None,
        "text": q.strip() or None,
    }


def _run_summary(run: RunRecord) -> RunSummary:
    metric = next((m for m in run.metrics if m.metric == run.primary_metric), None)
    return RunSummary(
        run_id=run.run_id,
        task=run.task,
        model=run.model.id,
        backend=run.model.backend,
        created_at=run.created_at,
        n_items=run.n_items,
        n_errors=run.n_errors,
        metric=run.primary_metric if metric else None,
        value=metric.value if metric else None,
        ci_low=metric.ci_low if metric else None,
        ci_high=metric.ci_high if metric else None,
    )


def _select_items(
    items: Sequence[ItemRecord], analysis: FailureAnalysis, show: str
) -> list[ItemRecord]:
    if show == "all":
        return list(items)
    wanted = set(analysis.errored if show == "errored" else analysis.failing)
    return [i for i in items if i.item_id in wanted]


SORT_HELP = "one of: " + ", ".join(REPORT_SORTS)
Sort = Annotated[str, Query(description=SORT_HELP)]
Order = Annotated[str, Query(pattern="^(asc|desc)$")]
Text = Annotated[str, Query(max_length=200, description="part of the name, source or license")]
Filter = Annotated[str | None, Query(max_length=100)]
Ids = Annotated[list[str], Query(alias="id", description="report ids (repeat the parameter)")]
Show = Annotated[str, Query(pattern="^(failing|errored|all)$")]


@dataclass(frozen=True)
class _ReportQuery:
    """The release list's sort, order and filters: the page and ``GET /api/reports`` alike."""

    sort: str
    order: str
    openness: str | None
    license: str | None
    safety: str | None
    behaviour: str | None
    mof: str | None
    q: str

    def filters(self) -> dict[str, Any]:
        return _filters(self.openness, self.license, self.safety, self.behaviour, self.mof, self.q)


def _report_query(
    sort: Sort = "created_at",
    order: Order = "desc",
    openness: Filter = None,
    license: Filter = None,
    safety: Filter = None,
    behaviour: Filter = None,
    mof: Filter = None,
    q: Text = "",
) -> _ReportQuery:
    return _ReportQuery(sort, order, openness, license, safety, behaviour, mof, q)


ReportQuery = Annotated[_ReportQuery, Depends(_report_query)]


def _find_item(store: Store, run_id: str, item_id: str) -> ItemRecord | None:
    return next((i for i in store.iter_items(run_id) if i.item_id == item_id), None)


def _run_items(
    store: Store, run_id: str, show: str
) -> tuple[RunRecord, FailureAnalysis, list[ItemRecord]] | None:
    """The run, its failure analysis and the items ``show`` picks; None if no such run."""
    run = store.get_run(run_id)
    if run is None:
        return None
    items = store.items(run_id)
    analysis = analyze_run(run, items)
    return run, analysis, _select_items(items, analysis, show)


def create_app(store_path: Path) -> FastAPI:
    """The site over the store at ``store_path`` (opened read-only; StoreError if unusable)."""
    Store(store_path, read_only=True).close()  # a missing, corrupt or newer store: fail now
    stores = _Stores(store_path)
    report_pages = _Cache(CACHE_SIZE)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        stores.close()

    app = FastAPI(
        lifespan=lifespan,
        title="seewhy",
        version=__version__,
        summary="Audited model releases and evaluation runs of one seewhy store (read-only).",
        docs_url=None,  # Swagger and ReDoc load scripts from a CDN: not on this site
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.stores = stores

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=500)
        return _html(pages.error_page("The store cannot be read", str(exc)), 500)

    def _not_found(request: Request, what: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": what}, status_code=404)
        return _html(pages.error_page("Not found", what), 404)

    # ------------------------------------------------------------- pages

    @app.get("/", response_class=HTMLResponse, summary="Every stored release, as a table")
    def list_page(
        query: ReportQuery,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        store = stores.get()
        sort = query.sort if query.sort in REPORT_SORTS else "created_at"
        filters = query.filters()
        total = store.count_reports(**filters)
        rows = store.report_summaries(
            sort=sort,
            descending=query.order == "desc",
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            **filters,
        )
        return _html(
            pages.list_page(
                rows,
                total=total,
                all_total=store.count_reports(),
                facets=store.report_facets(),
                sort=sort,
                order=query.order,
                query={
                    "openness": query.openness or "",
                    "license": query.license or "",
                    "safety": query.safety or "",
                    "behaviour": query.behaviour or "",
                    "mof": query.mof or "",
                    "q": query.q,
                },
                page=page,
                page_size=PAGE_SIZE,
                store=store,
            )
        )

    @app.get("/reports/{report_id}", response_class=HTMLResponse, summary="One release's report")
    def report_page(request: Request, report_id: str) -> Response:
        store = stores.get()

        def make() -> str | None:
            report = store.get_report(report_id)
            return pages.report_page(report) if report is not None else None

        text = report_pages.get(report_id, make)
        if text is None:
            return _not_found(request, f"no report {report_id} in this store")
        return _html(text, csp_in_page=True)

    @app.get("/compare", response_class=HTMLResponse, summary="Releases side by side")
    def compare_page(ids: Ids = []) -> Response:  # noqa: B006  (FastAPI reads the default)
        store = stores.get()
        chosen = list(dict.fromkeys(ids))
        text = pages.compare_page(  # not cached: runs may be added to the store meanwhile
            store, chosen[:MAX_COMPARED], dropped=len(chosen[MAX_COMPARED:])
        )
        return _html(text, csp_in_page=True)

    @app.get("/runs", response_class=HTMLResponse, summary="Every stored evaluation run")
    def runs_page() -> Response:
        runs = [_run_summary(r) for r in stores.get().runs()]
        return _html(pages.runs_page(runs))

    @app.get("/runs/{run_id}", response_class=HTMLResponse, summary="One run and its items")
    def run_page(
        request: Request,
        run_id: str,
        show: Show = "failing",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        found = _run_items(stores.get(), run_id, show)
        if found is None:
            return _not_found(request, f"no run {run_id} in this store")
        run, analysis, chosen = found
        start = (page - 1) * PAGE_SIZE
        return _html(
            pages.run_page(
                run,
                analysis,
                chosen[start : start + PAGE_SIZE],
                total=len(chosen),
                show=show,
                page=page,
                page_size=PAGE_SIZE,
            )
        )

    @app.get(
        "/runs/{run_id}/items/{item_id}", response_class=HTMLResponse, summary="One item of a run"
    )
    def item_page(request: Request, run_id: str, item_id: str) -> Response:
        store = stores.get()
        run = store.get_run(run_id)
        item = _find_item(store, run_id, item_id)
        if run is None or item is None:
            return _not_found(request, f"no item {item_id} of run {run_id} in this store")
        return _html(pages.item_page(run, item))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    # --------------------------------------------------------------- API

    @app.get("/api/reports", response_model=ReportList, summary="Stored reports (the list page)")
    def api_reports(
        query: ReportQuery,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = PAGE_SIZE,
    ) -> Response:
        store = stores.get()
        if query.sort not in REPORT_SORTS:
            return JSONResponse({"detail": f"cannot sort by {query.sort!r}; {SORT_HELP}"}, 422)
        filters = query.filters()
        rows = store.report_summaries(
            sort=query.sort, descending=query.order == "desc", limit=limit, offset=offset, **filters
        )
        body = ReportList(
            total=store.count_reports(**filters), offset=offset, limit=limit, reports=rows
        )
        return Response(body.model_dump_json(), media_type="application/json")

    @app.get(
        "/api/reports/{report_id}",
        response_model=Report,
        responses={404: {"model": ComparisonNotFound}},
        summary="One stored report (the seewhy audit --format json document)",
    )
    def api_report(request: Request, report_id: str) -> Response:
        report = stores.get().get_report(report_id)
        if report is None:
            return _not_found(request, f"no report {report_id} in this store")
        return Response(report.model_dump_json(), media_type="application/json")

    @app.get("/api/compare", summary="Releases side by side (the compare page)")
    def api_compare(ids: Ids = []) -> Response:  # noqa: B006
        key = list(dict.fromkeys(ids))[:MAX_COMPARED]
        comparison = pages.comparison(stores.get(), key)
        from seewhy.report.comparison import format_json

        return Response(format_json(comparison), media_type="application/json")

    @app.get("/api/runs", response_model=list[RunSummary], summary="Stored evaluation runs")
    def api_runs() -> list[RunSummary]:
        return [_run_summary(r) for r in stores.get().runs()]

    @app.get(
        "/api/runs/{run_id}",
        response_model=RunDetail,
        responses={404: {"model": ComparisonNotFound}},
        summary="One run with its failure analysis",
    )
    def api_run(request: Request, run_id: str) -> Response:
        store = stores.get()
        run = store.get_run(run_id)
        if run is None:
            return _not_found(request, f"no run {run_id} in this store")
        detail = RunDetail(run=run, analysis=analyze_run(run, store.items(run_id)))
        return Response(detail.model_dump_json(), media_type="application/json")

    @app.get(
        "/api/runs/{run_id}/items",
        response_model=ItemList,
        responses={404: {"model": ComparisonNotFound}},
        summary="A run's items: failing (default), errored or all",
    )
    def api_items(
        request: Request,
        run_id: str,
        show: Show = "failing",
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = PAGE_SIZE,
    ) -> Response:
        found = _run_items(stores.get(), run_id, show)
        if found is None:
            return _not_found(request, f"no run {run_id} in this store")
        chosen = found[2]
        body = ItemList(
            run_id=run_id,
            show=show,
            total=len(chosen),
            offset=offset,
            limit=limit,
            items=chosen[offset : offset + limit],
        )
        return Response(body.model_dump_json(), media_type="application/json")

    @app.get(
        "/api/runs/{run_id}/items/{item_id}",
        response_model=ItemRecord,
        responses={404: {"model": ComparisonNotFound}},
        summary="One item of a run",
    )
    def api_item(request: Request, run_id: str, item_id: str) -> Response:
        item = _find_item(stores.get(), run_id, item_id)
        if item is None:
            return _not_found(request, f"no item {item_id} of run {run_id} in this store")
        return Response(item.model_dump_json(), media_type="application/json")

    @app.get("/api", include_in_schema=False)
    def api_root() -> Response:
        return RedirectResponse("/openapi.json")

    return app


def _html(text: str, status: int = 200, *, csp_in_page: bool = False) -> Response:
    """An HTML response with the page's CSP as a header too (frame-ancestors needs one)."""
    headers = {"cache-control": "no-store"}
    if not csp_in_page:
        headers["content-security-policy"] = pages.SITE_CSP_HEADER
    return HTMLResponse(text, status_code=status, headers=headers)


def with_hosts(app: ASGIApp, host: str) -> ASGIApp:
    """``app`` behind the security headers and a Host check for the address it serves on."""
    loopback = {"127.0.0.1", "localhost", "::1", "[::1]"}
    if host in ("0.0.0.0", "::", ""):
        allowed = ["*"]
    else:
        allowed = sorted(loopback | {host, f"[{host}]" if ":" in host else host})
    return _Headers(TrustedHostMiddleware(app, allowed_hosts=allowed))
