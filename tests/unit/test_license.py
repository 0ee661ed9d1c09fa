"""The licence is MIT (the original README's `MIT License - см. LICENSE`), and every place that declares it
agrees with the LICENSE file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _licence_file() -> str:
    return (ROOT / "LICENSE").read_text().splitlines()[0].removesuffix(" License")


def test_the_license_file_is_the_mit_licence() -> None:
    assert _licence_file() == "MIT"


def test_package_metadata_chart_and_image_declare_the_licence_of_the_license_file() -> None:
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    annotations = yaml.safe_load((ROOT / "chart/mcp-operator/Chart.yaml").read_text())["annotations"]
    chart = annotations["artifacthub.io/license"]
    image = re.findall(r'org\.opencontainers\.image\.licenses="([^"]*)"', (ROOT / "Containerfile").read_text())
    assert (package, chart, image) == (_licence_file(), _licence_file(), [_licence_file()])
