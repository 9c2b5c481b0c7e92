"""Models for configs/features/: which features exist, which are used, how gaps are filled."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from ml.config.models import Identifier, Strict


class FeatureMappings(Strict):
    """feature_mappings.yml: every computed feature, each in exactly one group."""

    groups: dict[Identifier, list[str]]

    @model_validator(mode="after")
    def _one_group_each(self) -> FeatureMappings:
        owner: dict[str, str] = {}
        for group, features in self.groups.items():
            if not features:
                raise ValueError(f"groups.{group}: a group needs at least one feature")
            for feature in features:
                if feature in owner:
                    where = "twice" if owner[feature] == group else f"also in group '{owner[feature]}'"
                    raise ValueError(f"groups.{group}: feature '{feature}' is mapped {where}")
                owner[feature] = group
        return self

    def group_of(self) -> dict[str, str]:
        return {f: g for g, features in self.groups.items() for f in features}


class FeatureSelection(Strict):
    """feature_selection_config.yml: groups to keep, then single features to drop."""

    keep: list[str]
    drop: list[str] = []

    @field_validator("keep")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("keep at least one feature group")
        return value


Strategy = Literal["mean", "median", "constant", "most_frequent", "leave_missing"]


class Imputation(Strict):
    """How missing values of a feature are filled, learned on the training split.

    leave_missing keeps the gap for the model and adds a `<feature>__missing` column;
    `indicator` turns that column off (or on, for the other strategies).
    """

    strategy: Strategy
    value: float | None = None
    indicator: bool | None = None  # None: only with leave_missing

    @property
    def wants_indicator(self) -> bool:
        return self.strategy == "leave_missing" if self.indicator is None else self.indicator

    @model_validator(mode="after")
    def _value(self) -> Imputation:
        if self.strategy == "constant" and self.value is None:
            raise ValueError("strategy 'constant' needs a value")
        if self.strategy != "constant" and self.value is not None:
            raise ValueError(f"value is only used with strategy 'constant', not '{self.strategy}'")
        return self


class ImputationConfig(Strict):
    """imputation.yml: a default, then per group, then per feature (most specific wins)."""

    default: Imputation
    groups: dict[str, Imputation] = {}
    features: dict[str, Imputation] = {}
