// The new-experiment form: a setting shows only where it applies (its data-applies-when names the settings it
// depends on and their values; apps/federated/definitions.py says which). A hidden field is disabled, so it is
// not sent: the server takes its default, as it does for a field that does not apply.
(function () {
  const form = document.querySelector("form.experiment-form");
  if (!form) return;
  const dependents = [...form.querySelectorAll("[data-applies-when]")];

  function value(name) {
    const input = form.elements[name];
    if (!input) return undefined;
    return input.type === "checkbox" ? String(input.checked) : input.value;
  }

  function update() {
    for (const input of dependents) {
      const rule = JSON.parse(input.dataset.appliesWhen);
      const applies = Object.entries(rule).every(([name, values]) => values.map(String).includes(value(name)));
      const wrapper = input.closest(".field");
      wrapper.hidden = !applies;
      input.disabled = !applies;
    }
    // A section left with nothing to fill in goes too.
    for (const fieldset of form.querySelectorAll("fieldset")) {
      fieldset.hidden = ![...fieldset.querySelectorAll(".field")].some((field) => !field.hidden);
    }
  }

  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
