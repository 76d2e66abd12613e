"""Evidence package integrity: ``manifest.json`` lists the SHA-256 of every file, and
``verify_package_dir`` re-checks them (changed, missing and unlisted files are all problems)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from contract.errors import ConfigError

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def package_files(directory: Path) -> list[str]:
    """Every file under ``directory`` except the manifest itself, as sorted POSIX relative paths."""
    return sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and p.name != MANIFEST
    )


def write_manifest(directory: Path, header: dict[str, Any]) -> dict[str, Any]:
    """Hash every file now in ``directory`` and write manifest.json = header + files."""
    files = {
        rel: {"sha256": sha256_file(directory / rel), "bytes": (directory / rel).stat().st_size}
        for rel in package_files(directory)
    }
    manifest = {**header, "files": files}
    (directory / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise ConfigError(f"{directory} is not an evidence package: {MANIFEST} is missing")
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ConfigError(f"{path} has no 'files' object: not a manifest written by nhi export")
    return manifest


def verify_package_dir(directory: Path) -> tuple[list[str], int]:
    """(problems, files checked). An empty problem list means every byte is as exported."""
    manifest = read_manifest(directory)
    listed: dict[str, Any] = manifest["files"]
    problems: list[str] = []
    for rel, entry in sorted(listed.items()):
        path = directory / rel
        if not path.is_file():
            problems.append(f"missing: {rel}")
            continue
        actual = sha256_file(path)
        if actual != entry.get("sha256"):
            problems.append(
                f"changed: {rel} (sha256 {actual[:16]}..., manifest says {str(entry.get('sha256'))[:16]}...)"
            )
    for rel in package_files(directory):
        if rel not in listed:
            problems.append(f"not in manifest: {rel}")
    return problems, len(listed)
