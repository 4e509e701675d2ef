"""What the explorer answers when a request cannot be served: framework-free, mapped to HTTP by views."""


class ExplorerError(Exception):
    """A request the explorer refuses; `error` is a short machine-readable code, `detail` a sentence for people."""

    status = 400
    error = "bad_request"

    def __init__(self, detail, *, error=None):
        super().__init__(detail)
        self.detail = detail
        if error is not None:
            self.error = error

    def as_dict(self):
        return {"error": self.error, "detail": self.detail}


class BadRequest(ExplorerError):
    status = 400
    error = "bad_request"


class NotFound(ExplorerError):
    status = 404
    error = "not_found"


class Unauthorized(ExplorerError):
    status = 401
    error = "unauthorized"


class Forbidden(ExplorerError):
    status = 403
    error = "forbidden"


class TooLarge(ExplorerError):
    status = 413
    error = "too_large"


class Conflict(ExplorerError):
    status = 409
    error = "conflict"


class InvalidSettings(BadRequest):
    """Settings that do not make a valid experiment: `fields` holds the messages per setting."""

    error = "invalid_settings"

    def __init__(self, detail, *, fields):
        super().__init__(detail)
        self.fields = fields

    def as_dict(self):
        return {**super().as_dict(), "fields": self.fields}
