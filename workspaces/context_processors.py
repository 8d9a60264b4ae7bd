from workspaces import selectors


def workspaces(request) -> dict:
    """The signed-in user's workspaces, for the switcher in the base layout."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"user_workspaces": selectors.workspace_list_for_user(user=user)}
