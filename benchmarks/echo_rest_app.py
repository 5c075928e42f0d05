"""The bare REST baseline: one FastAPI route shaped like the gateway's verify, answering a canned body.

Module level on purpose: FastAPI resolves the body model's annotations through
the module's globals.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from benchmarks.servers import CANNED_VERIFICATION

__all__ = ["app"]


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    code: StrictStr
    at: StrictInt | StrictStr | None = None


app = FastAPI()


@app.post("/v1/codes:verify")
def verify(body: VerifyBody) -> dict[str, Any]:
    return CANNED_VERIFICATION
