import json

from django import forms
from django.core.exceptions import ValidationError

from .config import SETTING_NAMES, ExperimentConfig
from .definitions import SECTIONS, definitions
from .models import Experiment
from .selectors import experiment_budget_refusals


class ExperimentForm(forms.ModelForm):
    """A new experiment's settings, for the admin and the dashboard.

    Validation is the model's `clean`, which is `experiment_config_validate`: the same rules and messages as the
    command line and the API (the text of `hidden` goes to it as typed, and comes back as a list of widths); the
    model fields' own bounds are not checked a second time with other words. Labels, help and when a setting
    applies come from definitions.py; a setting that does not apply with the others (alpha with an iid partition)
    takes its default, whatever was typed in it, and the page hides it.
    Save through `experiment_create(**form.experiment_settings())`, not `form.save()`: creating an experiment also
    creates its clients and announces it.
    """

    hidden = forms.CharField(required=False)  # typed as text, "64,32"; its label and help come from definitions

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
        # (The admin's change page shows settings read-only: those are no fields here.)
        self.definitions = {d.name: d for d in definitions(SETTING_NAMES) if d.name in self.fields}
        for name, definition in self.definitions.items():
            field = self.fields[name]
            field.label = definition.label
            field.help_text = definition.help
            # The bounds are the validation's (config.py), said in its words: "between 1 and 10000".
            field.validators = []
            for attribute in ("min", "max"):
                field.widget.attrs.pop(attribute, None)
            if definition.applies_when:
                field.widget.attrs["data-applies-when"] = json.dumps(
                    {k: [str(v).lower() if isinstance(v, bool) else v for v in values]
                     for k, values in definition.applies_when.items()}
                )
        if self.is_bound:
            self.data = self._with_defaults_where_inapplicable(self.data)

    def _with_defaults_where_inapplicable(self, data):
        values = self.instance.settings()  # what a read-only setting holds
        for name in self.definitions:
            field = self.fields[name]
            try:
                values[name] = field.to_python(field.widget.value_from_datadict(data, self.files, self.add_prefix(name)))
            except ValidationError:
                values[name] = None
        data = data.copy()
        defaults = ExperimentConfig()
        for name, definition in self.definitions.items():
            if not definition.applies(values):
                default = getattr(defaults, name)
                data[self.add_prefix(name)] = ",".join(map(str, default)) if isinstance(default, tuple) else default
        return data

    def _get_validation_exclusions(self):
        # Each setting's bounds are checked once, by the model's clean (experiment_config_validate).
        return {*super()._get_validation_exclusions(), *self.definitions}

    def sections(self):
        """(title, [bound fields]) in the order one thinks about an experiment; the name comes first."""
        grouped = {title: [] for title in SECTIONS}
        grouped[SECTIONS[0]].append(self["name"])
        for name, definition in self.definitions.items():
            grouped[definition.section].append(self[name])
        return [(title, fields) for title, fields in grouped.items() if fields]

    def experiment_settings(self):
        """After is_valid(): keyword arguments for `experiment_create`, normalized by the validation."""
        return {"name": self.instance.name, **self.instance.settings()}
