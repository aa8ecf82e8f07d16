"""Issue 14, defect 1: policy ids are names from a closed set, never paths.

The attack: any role asks ``GET /v1/policies/{id}`` (or its distribution keys) with an id that names
a file or folder of the server's working directory (``pyproject.toml``, ``%2e%2e``, ``service``).
Before the fix the server opened it: a 422 echoing the file's top-level TOML values, a 500 for a
folder. Now every such id is 404 before any file is looked at, and an invalid policy file of the
server's own policy folder is described by field and reason, never by value.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from scoring.exceptions import PolicyError
from scoring.policy import load_named_policy, policy_ids
from scoring.region import Manifest, check_policy
from tests.service.conftest import Api

ATTACKS = ["pyproject.toml", "pyproject", "%2e%2e", "..", "%2e", "service", "platsa.db", "..%2fpyproject.toml",
           "%2e%2e%2fpyproject.toml", "..%5cpyproject.toml", "gothenburg.toml", "GOTHENBURG",
           "scoring%2fpolicies%2fgothenburg.toml", "%252e%252e", "gothenburg%00"]


@pytest.mark.parametrize("suffix", ["", "/distribution-keys"])
def test_no_policy_id_opens_a_file(api: Api, suffix: str) -> None:
    assert Path("pyproject.toml").is_file()  # the suite runs from the repository: the file is there
    with api.client("supplier_s1") as supplier:
        for attack in ATTACKS:
            answer = supplier.get(f"/v1/policies/{attack}{suffix}")
            assert answer.status_code in (404, 422), (attack, answer.status_code, answer.text)
            assert "problems" not in answer.json(), attack
            for secret in ("setuptools", "build-system", "ruff", "requires-python"):
                assert secret not in answer.text, (attack, answer.text)
        # No oracle: a file that exists and one that does not get the same answer.
        there, absent = (supplier.get(f"/v1/policies/{name}{suffix}") for name in ("pyproject.toml", "nofile.toml"))
        assert there.status_code == absent.status_code == 404
        assert there.json()["detail"].replace("pyproject", "nofile") == absent.json()["detail"]
        assert supplier.get(f"/v1/policies/gothenburg{suffix}").status_code == 200


def test_a_region_cannot_name_a_file_as_its_policy() -> None:
    for attack in ("pyproject.toml", "../pyproject", str(Path("pyproject.toml").resolve())):
        manifest = Manifest(region="x", policy=attack, reference_date=dt.date(2026, 1, 1))
        policy, problems = check_policy(manifest, None)
        assert policy is None and problems, attack
        assert all("setuptools" not in p.reason for p in problems)


def test_an_invalid_policy_file_is_described_without_its_values(tmp_path: Path) -> None:
    (tmp_path / "leaky.toml").write_text('db_password = "hunter2-s3cret"\nid = "leaky"\nname = 7\n',
                                         encoding="utf-8")
    assert "leaky" in policy_ids([tmp_path])
    with pytest.raises(PolicyError) as caught:
        load_named_policy("leaky", search_dirs=[tmp_path])
    problems = caught.value.problems
    assert problems and all(p.value is None for p in problems)
    assert all(p.file == "leaky.toml" for p in problems)
    assert "hunter2" not in str(caught.value) and str(tmp_path) not in str(caught.value)
    assert any(p.column == "db_password" for p in problems)  # the field is named, its value is not


def test_a_folder_of_the_policy_dir_is_not_a_policy(tmp_path: Path) -> None:
    (tmp_path / "folder.toml").mkdir()
    with pytest.raises(PolicyError):
        load_named_policy("folder", search_dirs=[tmp_path])
