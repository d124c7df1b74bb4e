"""Errors the lead services raise. Every door turns them into its own answer (an API status, a
form error, an admin message) without restating the rule."""


class LifecycleRuleError(Exception):
    """A stage move that breaks a lifecycle rule. `rule` is a stable code clients can match on."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


class LeadVersionConflict(Exception):
    """The lead changed since the caller read it."""

    def __init__(self, *, lead_id: int, expected_version: int, current_version: int):
        super().__init__(
            f"Lead {lead_id} was changed by someone else (you had version {expected_version}, "
            f"it is now at version {current_version}). Reload it and try again."
        )
        self.lead_id = lead_id
        self.expected_version = expected_version
        self.current_version = current_version
