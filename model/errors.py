"""Domain errors of the model: a value that cannot work, naming the field, the value and what
is allowed, worded as a sentence a learner reads ("d_model must be a multiple of n_heads (4);
30 is not"). The web app maps them to 422 in one place (app/errors.py); the CLI prints them."""

from __future__ import annotations

MAX_SHOWN_CHARS = 80


def shown(value: object) -> str:
    """`value` as a message quotes it: repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else f"{text[:MAX_SHOWN_CHARS]}…"


class FieldError(ValueError):
    """`field` cannot be `value`; `allowed` says what it can be.

    `message` replaces the generated sentence where "must be <allowed>" reads badly; it should
    still name the field.
    """

    def __init__(self, field: str, value: object, allowed: str, message: str | None = None) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self._message = message
        super().__init__(self.sentence())

    def sentence(self, name: str | None = None) -> str:
        """The error as a sentence, naming the field `name` (a dotted path in a request body)."""
        name = name or self.field
        if self._message is None:
            return f"{name} must be {self.allowed}; {shown(self.value)} is not"
        if name != self.field and self._message.startswith(self.field):
            return name + self._message[len(self.field) :]
        return self._message

    def at(self, prefix: str) -> FieldError:
        """The same error under `prefix` (a request's "config", a checkpoint's "extra")."""
        path = f"{prefix}.{self.field}"
        message = None if self._message is None else self.sentence(path)
        return FieldError(path, self.value, self.allowed, message)
