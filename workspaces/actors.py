"""Who did something, as the audit log names them: ``user:usr_…``, ``api_key:key_…``,
``scim:sct_…`` (a SCIM provisioning token), ``system:<component>``. Public ids only — never
an e-mail address or a name."""

from dataclasses import dataclass

from workspaces.models import ApiKey, User


@dataclass(frozen=True)
class SystemActor:
    """A process acting on its own authority: the CLI, a periodic task, the demo seeder."""

    component: str


@dataclass(frozen=True)
class ScimTokenActor:
    """An identity provider provisioning through SCIM with one workspace's bearer token. It
    acts in that workspace only (``workspace_id``), on members alone: the SCIM services check
    both, since the token is the workspace's, not a member's."""

    token_id: int
    public_id: str
    workspace_id: int


def actor_ref(actor) -> str:
    if isinstance(actor, SystemActor):
        return f"system:{actor.component}"
    if isinstance(actor, User):
        return f"user:{actor.public_id}"
    if isinstance(actor, ApiKey):
        return f"api_key:{actor.public_id}"
    if isinstance(actor, ScimTokenActor):
        return f"scim:{actor.public_id}"
    raise TypeError(f"not an actor: {actor!r}")
