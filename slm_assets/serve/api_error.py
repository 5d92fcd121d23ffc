"""The one error type routes raise; the app answers it in the API's own error shape."""


class ApiError(Exception):
    """An error answered as JSON: OpenAI's error shape on /v1, Ollama's `{"error": "..."}` on /api."""

    def __init__(self, status: int, message: str, code: str | None = None, type_: str = "invalid_request_error",
                 param: str | None = None, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.type, self.param = status, message, code, type_, param
        self.headers = headers
