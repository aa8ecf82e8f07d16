"""A small simulated Gothenburg year, an outcome model fitted on it and stored, and policies that
weigh it: shared by the outcome-score tests.

Its evaluation outcomes are far fewer than the shipped policy's ``min_group_outcomes`` (200), so the
tests judge the model by a test policy with ``min_group_outcomes = 1`` and
``max_group_calibration_error = 1.0`` (lenient on purpose, stated).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fixtures import generate_region
from fixtures.outcomes import simulate_person_outcomes
from fixtures.simulate import simulate_year
from scoring.outcome_model import fit_outcome_model
from scoring.policy import Policy, load_policy
from scoring.pool import build_pool
from scoring.region import Region
from service.outcome_models import save_outcome_model

SEED = 7
WEIGHT = 25.0
ROOT = Path(__file__).parents[2]


def lenient_text(policy_id: str, *, weight: float = 0.0, model: str | None = None,
                  max_error: float = 1.0) -> str:
    """The shipped Gothenburg policy as ``policy_id``, with the test's lenient model rules."""
    text = (ROOT / "scoring/policies/gothenburg.toml").read_text(encoding="utf-8")
    text = re.sub(r'^id = "gothenburg"', f'id = "{policy_id}"', text, count=1, flags=re.M)
    text = re.sub(r"max_group_calibration_error = [0-9.]+", f"max_group_calibration_error = {max_error}", text)
    text = re.sub(r"min_group_outcomes = [0-9]+", "min_group_outcomes = 1", text)
    if model is not None:
        text = text.replace("min_group_outcomes = 1", f'min_group_outcomes = 1\nweight = {weight}\nmodel = "{model}"')
    return text


def write_policy(folder: Path, policy_id: str, **rules: Any) -> Policy:
    path = folder / f"{policy_id}.toml"
    path.write_text(lenient_text(policy_id, **rules), encoding="utf-8")
    return load_policy(path)


class Trained:
    def __init__(self, root: Path) -> None:
        self.root = root
        region = simulate_year(generate_region("gothenburg", "small", seed=SEED), seed=SEED, year=2026)
        self.region: Region = region
        self.outcomes = simulate_person_outcomes(region, seed=SEED)
        self.policies = root / "policies"
        self.policies.mkdir()
        self.lenient = write_policy(self.policies, "gothenburg-lenient")
        pool, places = build_pool(region, self.lenient)
        self.model, _ = fit_outcome_model(pool, places, self.outcomes, self.lenient, region="gothenburg")
        self.models = root / "models"
        save_outcome_model(self.model, self.lenient, self.models)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return Trained(tmp_path_factory.mktemp("outcome-score"))
