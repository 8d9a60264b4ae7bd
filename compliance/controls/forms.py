from django import forms

from compliance.controls.catalogue import FRAMEWORKS


class ControlFilterForm(forms.Form):
    framework = forms.ChoiceField(
        label="Framework",
        required=False,
        choices=[("", "All frameworks"), *FRAMEWORKS.items()],
        # never the value sent back: the message is the same whatever was sent
        error_messages={
            "invalid_choice": "Unknown framework: choose one of "
            + ", ".join(FRAMEWORKS)
            + ", or none for all."
        },
    )
