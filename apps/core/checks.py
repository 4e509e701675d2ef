"""System checks (`manage.py check`, `check --deploy`) about where the node's keys live."""

from django.core.checks import Tags, Warning, register

from .keys import key_dir_problems


@register(Tags.security)
def key_dir_check(app_configs, **kwargs):
    return [
        Warning(problem, hint="See the README's 'Keys' section.", id="fedchain.W001")
        for problem in key_dir_problems()
    ]
