"""Access review campaigns: members and API keys confirmed, changed or removed by a reviewer."""
