from django import forms

from .config import SETTING_NAMES
from .models import Experiment
from .selectors import experiment_budget_refusals


class ExperimentForm(forms.ModelForm):
    """A new experiment's settings, for the admin and the dashboard.

    Validation is the model's `clean`, which is `experiment_config_validate`: the same rules and messages as the
    command line and the API (the text of `hidden` goes to it as typed, and comes back as a list of widths).
    Save through `experiment_create(**form.experiment_settings())`, not `form.save()`: creating an experiment also
    creates its clients and announces it.
    """

    hidden = forms.CharField(
        required=False,
        help_text="mlp only: hidden layer widths, comma-separated (e.g. 64,32); empty for the default",
    )

    # Whose work budget the new experiment counts against (the admin and the dashboard set the request's user).
    owner = None

    class Meta:
        model = Experiment
        fields = ["name", *SETTING_NAMES]

    def _post_clean(self):
        super()._post_clean()  # the model's clean: the settings' own rules
        if not self.errors and self.instance.pk is None:
            for messages in experiment_budget_refusals(self.instance.config(), owner=self.owner).values():
                for message in messages:
                    self.add_error(None, message)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.hidden:
            self.initial["hidden"] = ",".join(str(width) for width in self.instance.hidden)

    def experiment_settings(self):
        """After is_valid(): keyword arguments for `experiment_create`, normalized by the validation."""
        return {"name": self.instance.name, **self.instance.settings()}
