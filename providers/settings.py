"""Per-kind settings of a provider instance, as written under ``[providers.<name>]``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, model_validator

NETWORK_ID_PATTERN = r"^(?:[0-9]+|[a-z][a-z0-9-]+)$"


class ProviderSettingsBase(BaseModel):
    """Settings every instance has: the HTTP budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    max_retries: int = Field(default=2, ge=0, le=5)

    @model_validator(mode="after")
    def _secrets_not_blank(self) -> ProviderSettingsBase:
        for name, value in self:
            if isinstance(value, SecretStr) and not value.get_secret_value().strip():
                raise ValueError(f"{name} must not be empty")
        return self


class MightyNetworksSettings(ProviderSettingsBase):
    kind: Literal["mighty_networks"]
    network_id: str = Field(pattern=NETWORK_ID_PATTERN)
    token: SecretStr
    base_url: HttpUrl = HttpUrl("https://api.mn.co")


class UnleashSettings(ProviderSettingsBase):
    kind: Literal["unleash"]
    base_url: HttpUrl
    token: SecretStr
    # Check each reset link against /auth/reset/validate before delivering it.
    verify_link: bool = True


class F5XCSettings(ProviderSettingsBase):
    kind: Literal["f5xc"]
    base_url: HttpUrl
    token: SecretStr


class TykSettings(ProviderSettingsBase):
    kind: Literal["tyk"]
    base_url: HttpUrl
    admin_secret: SecretStr
    # A Dashboard API key of a user holding ResetPassword: enables e-mail look-up and full reset.
    dashboard_key: SecretStr | None = None


ProviderSettings = Annotated[
    MightyNetworksSettings | UnleashSettings | F5XCSettings | TykSettings,
    Field(discriminator="kind"),
]

KINDS: tuple[str, ...] = ("mighty_networks", "unleash", "f5xc", "tyk")
