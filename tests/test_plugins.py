"""Plugins: an engine and two formats installed as entry points by a package of their
own (tests/plugin_example.py, registered in conftest) work everywhere the built-ins do;
a broken plugin is a clear error; and the one parameter declaration feeds every caller."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import zipfile
from pathlib import Path
from typing import Annotated

import pydantic
import pytest
from pydantic import Field

import ocr_ray
from ocr_ray.accuracy import cer
from ocr_ray.cli import add_job_options, job_options
from ocr_ray.params import JobParams, Option
from serve.schemas import job_request_models
from tests.cli_process import cli
from tests.conftest import PAGES, ApiServer, ground_truth, wait_done
from tests.plugin_dist import write_dist

PLUGIN_FORMATS = "jsonl,wordcount,pagetext,zip"


def _two_pages(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("phototest.tif", "c015.tif"):
        shutil.copy(PAGES / name, folder / name)
    return folder


def _check_plugin_outputs(out: Path) -> None:
    """What the plugin engine and formats wrote for the two pages, checked exactly."""
    rows = dict(line.split("\t") for line in (out / "results.words.tsv").read_text().splitlines())
    assert sorted(Path(p).name for p in rows) == ["c015.tif", "phototest.tif"]
    photo = next(p for p in rows if p.endswith("phototest.tif"))
    assert abs(int(rows[photo]) - len(ground_truth("phototest").split())) <= 2
    text = (out / "pagetext" / "phototest.tif.txt").read_text()
    assert text == text.upper()  # the plugin engine's reading
    assert cer(text, ground_truth("phototest").upper()) <= 0.03
    with zipfile.ZipFile(out / "results.zip") as archive:
        names = set(archive.namelist())
    assert {"results.words.tsv", "pagetext/phototest.tif.txt", "pagetext/c015.tif.txt"} <= names


@pytest.mark.usefixtures("ray_local")
def test_a_plugin_engine_and_formats_through_submit(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "out"
    job = ocr_ray.submit(
        _two_pages(tmp_path / "in"),
        provider="shouting",
        formats=PLUGIN_FORMATS.split(","),
        out_dir=out,
        store=store_url,
    )
    summary = job.wait(timeout=300, progress=False)
    assert (summary.succeeded, summary.failed) == (2, 0)
    assert {r.engine for r in job.results()} == {"shouting"}
    job.export(out)
    _check_plugin_outputs(out)


def test_a_plugin_engine_and_formats_through_thecli(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = cli(
        "run", str(_two_pages(tmp_path / "in")), "--out", str(out), "--provider", "shouting",
        "--formats", PLUGIN_FORMATS, "--quiet", home=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    _check_plugin_outputs(out)
    listed = cli("run", "--help", home=tmp_path).stdout
    assert "shouting" in listed and "wordcount" in listed and "pagetext" in listed


def test_a_plugin_engine_and_formats_through_the_api(api_server: ApiServer) -> None:
    _two_pages(api_server.root / "plugins")
    with api_server.client() as http:
        options = http.get("/api/bulk/options").json()
        assert "shouting" in options["providers"]
        listed = {f["name"]: f for f in options["formats"]}
        assert listed["wordcount"]["label"] == "word counts (plugin)"
        assert listed["pagetext"]["kind"] == "document" and not listed["pagetext"]["default"]
        body = {
            "folder_path": "plugins",
            "provider": "shouting",
            "export_formats": PLUGIN_FORMATS.split(","),
        }
        job_id = http.post("/api/bulk/process", json=body).raise_for_status().json()["job_id"]
        assert wait_done(http, job_id)["succeeded"] == 2
        archive = http.get(f"/api/bulk/results/{job_id}")
        with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
            assert "pagetext/phototest.tif.txt" in z.namelist()
            assert z.read("pagetext/phototest.tif.txt").isupper()
            assert len(z.read("results.words.tsv").splitlines()) == 2
        single = http.get(f"/api/bulk/results/{job_id}", params={"format": "wordcount"})
        assert single.headers["content-type"].startswith("text/tab-separated-values")
        assert len(single.text.splitlines()) == 2


def test_a_broken_format_plugin_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    entries = {"ocr_ray.formats": {"brokenfmt": "serve.no_such_format:Format"}}
    env = _with_path(write_dist(tmp_path / "dist", "broken-format", entries))
    done = cli(
        "run", str(_two_pages(tmp_path / "in")), "--out", str(tmp_path / "out"),
        "--formats", "jsonl,brokenfmt", home=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr  # a bug in the plugin, not a usage error
    assert "the 'brokenfmt' output format (serve.no_such_format:Format) failed to load" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()  # refused before any file was read


def test_the_retired_provider_setting_is_refused_with_what_replaces_it(tmp_path: Path) -> None:
    env = dict(os.environ, OCR_RAY_EXTRA_PROVIDERS="x=tests.fault_engines:FaultyProvider")
    done = cli(
        "run", str(_two_pages(tmp_path / "in")), "--out", str(tmp_path / "out"),
        home=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert "OCR_RAY_EXTRA_PROVIDERS is no longer read" in done.stderr
    assert "'ocr_ray.engines'" in done.stderr


class _WithContrast(JobParams):
    """The declaration with one parameter more, added nowhere else."""

    contrast: Annotated[float, Option(changes_text=True)] = Field(
        1.0, ge=0.5, le=2.0, description="contrast to read pages at"
    )


def test_a_declared_parameter_reaches_the_cli_both_api_models_and_the_cache_key() -> None:
    parser = argparse.ArgumentParser()
    add_job_options(parser, _WithContrast)
    assert "--contrast" in parser.format_help() and "contrast to read pages at" in (
        parser.format_help()
    )
    given = parser.parse_args(["--contrast", "1.5", "--no-rotate"])
    assert job_options(given, _WithContrast) == {"contrast": "1.5", "rotate": False}
    for model in job_request_models(_WithContrast):
        assert model.model_fields["contrast"].description == "contrast to read pages at"
        assert model.model_json_schema()["properties"]["contrast"]["anyOf"][0]["maximum"] == 2.0
        extra = {"files": []} if "files" in model.model_fields else {"folder_path": "x"}
        with pytest.raises(pydantic.ValidationError, match="contrast"):
            model.model_validate({**extra, "contrast": 3.0})
        with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
            model.model_validate({**extra, "not_a_field": 1})

    def key(**options: object) -> str:
        return _WithContrast(paths=[], **options).cache_key("0" * 64, "1.0")

    assert key(contrast=1.0) != key(contrast=1.5)  # it changes the text: in the key
    assert key(recursive=False) == key(recursive=True)  # it does not: not in the key


def test_upload_takes_every_option_that_process_takes() -> None:
    process, upload = job_request_models()
    assert set(process.model_fields) - {"folder_path"} == set(upload.model_fields) - {"files"}
    assert {"deskew", "recursive", "rotate", "dpi", "languages"} <= set(upload.model_fields)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("eng+deu", ["eng", "deu"]), ("en,de", ["eng", "deu"]), (["eng", "de+en"], ["eng", "deu"])],
)
def test_languages_are_split_and_named_in_one_place(given: object, expected: list[str]) -> None:
    assert JobParams(paths=[], languages=given).languages == expected


def test_languages_are_capped_and_checked_in_one_place() -> None:
    with pytest.raises(pydantic.ValidationError, match="at most 16 languages"):
        JobParams(paths=[], languages="+".join(["eng"] * 17))
    with pytest.raises(pydantic.ValidationError, match="invalid language"):
        JobParams(paths=[], languages=["eng;rm -rf /"])


def test_an_unknown_submit_option_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ocr_ray.UsageError, match=r"unknown option.*'handwritting'"):
        ocr_ray.submit(_two_pages(tmp_path / "in"), handwritting=True)


def _with_path(folder: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), os.environ["PYTHONPATH"]]))
