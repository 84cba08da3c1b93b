"""The typed records of a verification that cross module boundaries: the change's added tests run on the
base (`AddedTests`) and the `verification` block of the JSON result and the report (`Verification`).
Models only: the verdict fills them, the report reads them, and neither imports the other."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AddedTests(BaseModel):
    """The tests the change added or changed, run on the base code with the change's tests copied in."""

    files: list[str] = Field(default_factory=list)  # changed test modules that were run
    added_tests: list[str] = Field(default_factory=list)  # their ids on the change
    fail_on_base: bool | None = None  # None: the change touches no test module
    failing_on_base: list[str] = Field(default_factory=list)  # of added_tests, not passing on base
    note: str = ""


class Verification(BaseModel):
    """The `verification` object of the JSON result (and the report's last section)."""

    baseline: dict[str, Any] = Field(default_factory=dict)
    final: dict[str, Any] | None = None
    regressions: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    still_failing: list[str] = Field(default_factory=list)
    added_tests: list[str] = Field(default_factory=list)
    added_tests_fail_on_base: bool | None = None
    flaky: list[str] = Field(default_factory=list)
    timed_out_tests: list[str] = Field(default_factory=list)
    edited_targets: list[str] = Field(default_factory=list)
    change_tests: dict[str, Any] | None = None  # the change's own test modules, as the change has them
    added_tests_note: str = ""
    targets: list[str] = Field(default_factory=list)
    targets_source: str | None = None
    already_failing: list[str] = Field(default_factory=list)  # "still failing (already failing before)"
    findings: list[str] = Field(default_factory=list)
    changed_config: list[str] = Field(default_factory=list)  # .gitattributes, .gitignore, test config
    binary_files: list[str] = Field(default_factory=list)  # binary files in the change (not artefacts)

    def as_json(self) -> dict[str, Any]:
        block = self.model_dump(mode="json")
        if not block["added_tests_note"]:
            del block["added_tests_note"]
        return block
