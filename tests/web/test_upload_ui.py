"""New run from the browser: drop files, choose settings, watch progress, land in the result."""

from __future__ import annotations

import json
from pathlib import Path

from webtools import DEMO_DATA, LiveServer, clinc_rows, shoot, wait_for_map


def test_upload_several_files_watch_progress_and_open_the_result(page, tmp_path: Path):
    root = tmp_path / "runs"
    root.mkdir()
    clinc = tmp_path / "clinc queries.jsonl"
    clinc.write_text("".join(json.dumps(r) + "\n" for r in clinc_rows(every=150)))
    with LiveServer(root) as live:
        page.goto(live.url)
        page.wait_for_selector("text=No runs here yet")
        shoot(page, "14-no-runs")
        page.get_by_role("button", name="New run").first.click()
        page.set_input_files("#upload-files", [str(DEMO_DATA), str(clinc)])
        assert page.locator(".file-name").all_inner_texts() == ["oasst_en100.jsonl", "clinc queries.jsonl"]
        page.fill('input[name="name"]', "weekly review")
        page.fill('input[name="clusters_per_group"]', "12")
        page.locator(".advanced summary").click()
        page.select_option('select[name="embedder"]', "hashing")
        page.select_option('select[name="projector"]', "pca")
        assert page.locator('select[name="model"]').input_value() == "extractive"
        shoot(page, "15-new-run-form")
        page.get_by_role("button", name="Start run").click()
        page.wait_for_selector(".steps .step")
        shoot(page, "16-new-run-progress")
        page.wait_for_function("() => location.hash.includes('run=weekly-review')", timeout=120_000)
        wait_for_map(page)
        assert page.locator(".tree-summary").inner_text().startswith("250 conversations")
        assert page.locator(".run-select").input_value() == "weekly-review"
        shoot(page, "17-new-run-opened")


def test_files_over_the_limit_are_refused_before_uploading(page, tmp_path: Path):
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps({"messages": [{"role": "user", "content": "x" * (2 * 1024 * 1024)}]}) + "\n")
    root = tmp_path / "runs"
    root.mkdir()
    with LiveServer(root, max_upload_mb=1) as live:
        page.goto(live.url)
        page.get_by_role("button", name="New run").first.click()
        page.set_input_files("#upload-files", [str(big)])
        error = page.locator(".upload-dialog .error-note")
        assert "over this server's 1.0 MB limit" in error.inner_text()
        assert page.get_by_role("button", name="Start run").is_disabled()


def test_a_failed_run_says_why(page, tmp_path: Path):
    notes = tmp_path / "notes.txt"
    notes.write_text("just some text, not conversations\n")
    root = tmp_path / "runs"
    root.mkdir()
    with LiveServer(root) as live:
        page.goto(live.url)
        page.get_by_role("button", name="New run").first.click()
        page.set_input_files("#upload-files", [str(notes)])
        page.locator(".advanced summary").click()
        page.select_option('select[name="embedder"]', "hashing")
        page.get_by_role("button", name="Start run").click()
        page.wait_for_selector("text=The run failed", timeout=120_000)
        assert page.locator(".upload-dialog .error-note").inner_text()
        assert page.get_by_role("button", name="Try again").is_visible()
        shoot(page, "18-new-run-failed")


def test_files_dropped_anywhere_on_the_page_start_a_new_run(page, server):
    page.goto(f"{server.url}#run=oasst")
    wait_for_map(page)
    page.evaluate(
        """() => {
        const files = new DataTransfer();
        files.items.add(new File(['{"messages": [{"role": "user", "content": "hello"}]}\\n'], 'dropped.jsonl'));
        const drop = new DragEvent('drop', {dataTransfer: files, bubbles: true, cancelable: true});
        document.querySelector('.map-canvas').dispatchEvent(drop);
        return drop.defaultPrevented;
      }"""
    )
    assert page.locator(".upload-dialog[open] .file-name").all_inner_texts() == ["dropped.jsonl"]
    assert "#run=oasst" in page.url  # the page stayed where it was
