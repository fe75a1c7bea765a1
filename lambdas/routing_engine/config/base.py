"""What every configuration model shares: the strict base class and the key syntax."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
Key = Annotated[str, Field(pattern=KEY_PATTERN)]


class StrictModel(BaseModel):
    # extra="forbid": a misspelt field is an error that names it, never a setting silently ignored.
    # defer_build: validators are built on first use, not at import (a cold start pays for them once, either way).
    # allow_inf_nan=False: a price (or any number) of Infinity or NaN would make every cost comparison false.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, allow_inf_nan=False)
