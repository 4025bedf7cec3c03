"""The emulator's API error: an HTTP status plus Salesforce's JSON error list."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError"]


class ApiError(Exception):
    """Raised anywhere in the emulator; the HTTP layer renders it as Salesforce does.

    ``errors`` is the body Salesforce sends: ``[{"errorCode": ..., "message": ...}]``
    (``fields`` is added for record-level errors).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}

    def body(self) -> list[dict[str, Any]]:
        """The JSON list body of a REST error response."""
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]

    def collection_error(self) -> dict[str, Any]:
        """The shape used inside sObject Collections / composite results."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields or []}
