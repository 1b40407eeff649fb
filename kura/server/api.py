"""The JSON API over the runs (``/api/...``). The page is its main client; scripts may use it too.

GET  /api/runs                          the runs, with status and counts
GET  /api/runs/{run}                    the run: settings, cluster tree
GET  /api/runs/{run}/points             per-conversation typed arrays for the map: position, base cluster
GET  /api/runs/{run}/columns            the fields (facets, metadata, outcomes): schema and typed arrays
GET  /api/runs/{run}/summaries          summaries, paged: ?offset=&limit= (with ?cluster= and ?q=), or ?rows=3,17,
                                        or ?id= (one conversation's row)
GET  /api/runs/{run}/conversation?id=   one conversation with its summary and cluster path (403 for a
                                        --privacy strict run unless served with --allow-raw-text)
GET  /api/runs/{run}/search?q=          rows matching a text search, as a bit set (over summaries only
                                        when the run's raw text is not served)
GET  /api/runs/{run}/trends?by=&level=&cluster=   shares per period and rising/falling clusters
POST /api/runs/{run}/trends             the same over the rows of a bit mask (the page's filters)
GET  /api/runs/{run}/outcomes           per-cluster outcome statistics (kura.analysis.outcomes)
GET  /api/diff?a=&b=&level=             what changed from run a to run b (kura diff)
GET  /api/options                       what the upload form offers, and the size limit
POST /api/jobs                          upload files and start a run (multipart)
GET  /api/jobs, /api/jobs/{id}          runs started here, with progress

``points`` and ``columns`` are binary (``application/vnd.kura.arrays``: a JSON header, then the
arrays in place; see :mod:`kura.server.packed`, whose ``from_binary`` reads them in Python).

No response names a local folder: runs are known by name, and error messages have the runs
folder's path cut out of them (a server shared on a network must not describe its disk).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from kura.errors import KuraError
from kura.server.diff import RunDiffs
from kura.server.fields import b64
from kura.server.jobs import Job, Jobs, RunSettings, options
from kura.server.outcomes import outcomes_json
from kura.server.packed import MEDIA_TYPE
from kura.server.privacy import RawTextWithheld
from kura.server.rundata import RunData
from kura.server.runs import RunRegistry
from kura.server.search import parse_query
from kura.server.trends import decode_mask, trends_payload
from kura.server.uploads import MAX_FILES, UploadTooLarge, limited_receive, run_name, save_uploads, too_large

MAX_PAGE = 200

#: POSTs must carry this header. A browser only sends custom headers cross-origin after a CORS
#: preflight, which this server never approves, so no other web page can start runs here.
CSRF_HEADER = "x-kura-request"


class TrendsQuery(BaseModel):
    """What the time view asks for: ``mask`` is the rows to count (packed bits, base64), if any."""

    by: str = "week"
    level: int | None = None
    cluster: str | None = None
    mask: str | None = None


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


def _arrays(body: bytes) -> Response:
    return Response(content=body, media_type=MEDIA_TYPE)


class Api:
    """The routes, bound to one registry of runs and one job queue."""

    def __init__(self, registry: RunRegistry, *, max_upload_bytes: int, uploads: bool):
        self.registry = registry
        self.max_upload_bytes = max_upload_bytes
        self.uploads = uploads
        self.jobs = Jobs(on_finish=self._finished) if uploads else None
        self.diffs = RunDiffs(registry)
        self.router = APIRouter(prefix="/api")
        r = self.router
        r.add_api_route("/runs", self.list_runs, methods=["GET"])
        r.add_api_route("/runs/{run}", self.overview, methods=["GET"])
        r.add_api_route("/runs/{run}/points", self.points, methods=["GET"], response_class=Response)
        r.add_api_route("/runs/{run}/columns", self.columns, methods=["GET"], response_class=Response)
        r.add_api_route("/runs/{run}/summaries", self.summaries, methods=["GET"])
        r.add_api_route("/runs/{run}/conversation", self.conversation, methods=["GET"])
        r.add_api_route("/runs/{run}/search", self.search, methods=["GET"])
        r.add_api_route("/runs/{run}/trends", self.trends, methods=["GET"])
        r.add_api_route("/runs/{run}/trends", self.filtered_trends, methods=["POST"])
        r.add_api_route("/runs/{run}/outcomes", self.outcomes, methods=["GET"])
        r.add_api_route("/diff", self.diff, methods=["GET"])
        r.add_api_route("/options", self.options, methods=["GET"])
        r.add_api_route("/jobs", self.start_job, methods=["POST"], status_code=202)
        r.add_api_route("/jobs", self.list_jobs, methods=["GET"])
        r.add_api_route("/jobs/{job_id}", self.job, methods=["GET"])

    # -- runs ------------------------------------------------------------------------------------
    def _run(self, name: str) -> RunData:
        try:
            return self.registry.get(name)
        except KeyError:
            raise HTTPException(404, f"no run called {name!r}") from None
        except KuraError as exc:
            raise HTTPException(409, self._hide_paths(str(exc))) from None

    def list_runs(self) -> dict[str, Any]:
        return {"runs": self.registry.listing()}

    def overview(self, run: str) -> Response:
        return _json(self._run(run).overview_json())

    def points(self, run: str) -> Response:
        data = self._run(run)
        body = data.points_binary()
        data.points_sent()
        return _arrays(body)

    def columns(self, run: str) -> Response:
        return _arrays(self._run(run).columns_binary())

    def summaries(
        self,
        run: str,
        rows: str | None = Query(None, description="Comma-separated row numbers (at most 200)."),
        offset: int = Query(0, ge=0),
        limit: int = Query(50, ge=1, le=MAX_PAGE),
        cluster: str | None = Query(None, description="Only conversations under this cluster id."),
        q: str | None = Query(None, description="Only conversations matching this search."),
        chat_id: str | None = Query(None, alias="id", description="The row of this conversation (by chat_id)."),
    ) -> dict[str, Any]:
        data = self._run(run)
        if chat_id is not None:
            if chat_id not in data.row_of:
                raise HTTPException(404, f"no conversation {chat_id!r} in run {run!r}")
            rows = str(data.row_of[chat_id])
        if rows is not None:
            try:
                wanted = [int(r) for r in rows.split(",") if r.strip()]
            except ValueError:
                raise HTTPException(422, "rows should be comma-separated row numbers, e.g. rows=0,5,9") from None
            if len(wanted) > MAX_PAGE:
                raise HTTPException(422, f"at most {MAX_PAGE} rows at once, got {len(wanted)}")
            if any(not 0 <= r < data.size for r in wanted):
                raise HTTPException(422, f"row numbers go from 0 to {data.size - 1}")
            return {"total": len(wanted), "offset": 0, "limit": len(wanted), "rows": data.rows(wanted)}
        selected = np.arange(data.size)
        if cluster is not None:
            if cluster not in data.cluster_index:
                raise HTTPException(404, f"no cluster {cluster!r} in run {run!r}")
            selected = data.rows_in_cluster(cluster)
        if q:
            selected = selected[data.search(q)[selected]]
        page = selected[offset : offset + limit]
        return {
            "total": int(len(selected)),
            "offset": offset,
            "limit": limit,
            "rows": data.rows([int(r) for r in page]),
        }

    def conversation(
        self, run: str, chat_id: str = Query(..., alias="id", description="The conversation's chat_id.")
    ) -> dict[str, Any]:
        try:
            found = self._run(run).conversation(chat_id)
        except RawTextWithheld as exc:
            raise HTTPException(403, str(exc)) from None
        if found is None:
            raise HTTPException(404, f"no conversation {chat_id!r} in run {run!r}")
        return found

    def outcomes(self, run: str) -> Response:
        data = self._run(run)
        try:
            return _json(outcomes_json(data))
        except KuraError as exc:
            raise HTTPException(409, self._hide_paths(str(exc))) from None

    def search(self, run: str, q: str = Query("", max_length=1000)) -> dict[str, Any]:
        data = self._run(run)
        mask = data.search(q)
        return {
            "q": q,
            "terms": parse_query(q),
            "count": int(mask.sum()),
            "mask": b64(np.packbits(mask, bitorder="little")),
        }

    def trends(
        self,
        run: str,
        by: str = Query("week", description="day, week or month"),
        level: int | None = Query(None, description="Tree level, 0 = top (default: base clusters)."),
        cluster: str | None = Query(None, description="Also the series of this cluster, at its own level."),
    ) -> dict[str, Any]:
        return self._trends(run, TrendsQuery(by=by, level=level, cluster=cluster))

    def filtered_trends(self, run: str, query: TrendsQuery, request: Request) -> dict[str, Any]:
        if request.headers.get(CSRF_HEADER) != "1":
            raise HTTPException(403, f"missing header {CSRF_HEADER}: 1 (sent by the page; add it when scripting)")
        return self._trends(run, query)

    def _trends(self, run: str, query: TrendsQuery) -> dict[str, Any]:
        data = self._run(run)
        try:
            mask = decode_mask(query.mask, data.size) if query.mask is not None else None
            return trends_payload(data, by=query.by, level=query.level, cluster=query.cluster, mask=mask)
        except KuraError as exc:
            raise HTTPException(422, self._hide_paths(str(exc))) from None

    def diff(
        self,
        a: str = Query(..., description="The earlier run."),
        b: str = Query(..., description="The later run."),
        level: int | None = Query(None, ge=0, description="Tree level to compare (0 = top); default: base clusters."),
    ) -> dict[str, Any]:
        try:
            return self.diffs.compare(a, b, level)
        except KeyError as exc:
            raise HTTPException(404, f"no finished run called {exc.args[0]!r}") from None
        except KuraError as exc:
            raise HTTPException(422, self._hide_paths(str(exc))) from None

    # -- runs from the browser ---------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        return {
            "uploads": self.uploads,
            "max_upload_bytes": self.max_upload_bytes,
            "max_files": MAX_FILES,
            "new_runs_in": "beside the served run" if self.registry.single else "in the served folder",
            **options(),
        }

    async def start_job(self, request: Request) -> Any:
        if self.jobs is None:
            raise HTTPException(
                403, "new runs are turned off on this server: start it with `kura serve --allow-uploads`"
            )
        if request.headers.get(CSRF_HEADER) != "1":
            raise HTTPException(403, f"missing header {CSRF_HEADER}: 1 (sent by the page; add it when scripting)")
        declared = int(request.headers.get("content-length") or 0)
        if declared > self.max_upload_bytes:
            return JSONResponse({"detail": str(too_large(declared, self.max_upload_bytes))}, status_code=413)
        limited = Request(request.scope, limited_receive(request.receive, self.max_upload_bytes))
        try:
            async with limited.form(max_files=MAX_FILES, max_fields=50) as form:
                # A form sent with nothing chosen still carries one nameless, empty file part.
                files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and (f.filename or f.size)]
                if not files:
                    raise HTTPException(422, "no files: choose one or more files of conversations")
                settings = RunSettings.from_form(form).check()
                name = run_name(str(form.get("name") or ""), self.registry.is_taken)
                path = self.registry.new_runs_dir / name
                try:
                    inputs, names = save_uploads(files, path / "inputs")
                except BaseException:
                    shutil.rmtree(path, ignore_errors=True)  # made just now, for this upload
                    raise
        except UploadTooLarge as exc:
            return JSONResponse({"detail": str(exc)}, status_code=413)
        except KuraError as exc:
            raise HTTPException(422, self._hide_paths(str(exc))) from None
        self.registry.add(name, path, busy=True)
        job = self.jobs.submit(name, path, inputs, names, settings)
        return self._describe(job)

    def list_jobs(self) -> dict[str, Any]:
        return {"jobs": [self._describe(j) for j in self.jobs.all()] if self.jobs else []}

    def job(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id) if self.jobs else None
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return self._describe(job)

    def _describe(self, job: Job) -> dict[str, Any]:
        assert self.jobs is not None
        described = self.jobs.describe(job)
        if described["error"]:
            described["error"] = self._hide_paths(described["error"])
        return described

    def _hide_paths(self, message: str) -> str:
        """``message`` with the served folders cut out: ``/home/me/runs/x/inputs/01/a.json`` reads
        ``x/inputs/01/a.json`` (names relative to the runs folder, which the operator knows)."""
        folders = {str(self.registry.root), str(self.registry.new_runs_dir)}
        for folder in sorted(folders, key=len, reverse=True):
            message = message.replace(folder + os.sep, "").replace(folder, ".")
        return message

    def _finished(self, job: Job, ok: bool) -> None:
        if ok:
            self.registry.add(job.run, job.path, busy=False)
        else:
            # A failed upload leaves nothing behind: the folder was made by this server for it.
            self.registry.remove(job.run)
            shutil.rmtree(job.path, ignore_errors=True)

    def shutdown(self) -> None:
        if self.jobs is not None:
            self.jobs.shutdown()
